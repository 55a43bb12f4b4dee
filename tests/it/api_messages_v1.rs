//! `POST /api/v1/messages/send-message` through HTTP: every documented example (seed 003)
//! accepted, its error bodies, button rules and media checks (HEAD against a wiremock
//! file server).

use crate::api::{api_yaml, customer_writes, now, post, spawn_api, CUSTOMER, EDITS};
use crate::helpers::{spawn_with, Options};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PATH: &str = "/api/v1/messages/send-message";

async fn files() -> MockServer {
    let server = MockServer::start().await;
    for (p, ty, len) in [
        ("/product-photo.png", "image/png", 200_000u64),
        ("/tutorial.mp4", "video/mp4", 10_000_000),
        ("/voice-note.mp3", "audio/mpeg", 300_000),
        ("/report.pdf", "application/pdf", 2_000_000),
        ("/huge.png", "image/png", 6 * 1024 * 1024),
        ("/anim.gif", "image/gif", 1000),
    ] {
        Mock::given(method("HEAD"))
            .and(path(p))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", ty)
                    .insert_header("content-length", len.to_string().as_str()),
            )
            .mount(&server)
            .await;
    }
    server
}

fn redactions(v: &Value) -> Value {
    let mut v = v.clone();
    for k in ["message_id", "contact_id", "timestamp"] {
        if v.get(k).is_some() {
            v[k] = json!(format!("[{k}]"));
        }
    }
    v
}

#[tokio::test]
async fn text_message_is_accepted_like_the_messages_v1_api() {
    let app = spawn_api().await;
    customer_writes(&app, CUSTOMER, 60).await;
    let (status, body) = post(
        &app,
        PATH,
        json!({ "contact_phone": CUSTOMER, "contact_name": "John Doe",
        "message_type": "text", "message": "Hello! How can I help you today?" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    crate::api::assert_shape(
        &body,
        &json!({ "status": "success", "message": "Message sent successfully",
        "message_id": "wamid.HBgNOTE4MDMxMjM0NTY3OA==", "contact_id": "507f1f77bcf86cd799439012",
        "message_type": "text", "timestamp": "2026-06-15T10:00:00Z" }),
    );
    assert_eq!(
        body["timestamp"],
        now(&app).format("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    insta::assert_json_snapshot!(redactions(&body));
    let contact_id: i64 = body["contact_id"].as_str().unwrap().parse().unwrap();
    let contact = app.store.contact(contact_id).await.unwrap().unwrap();
    assert_eq!(contact.name.as_deref(), Some("John Doe"));
    let sends = app
        .wait_meta_sends(1, std::time::Duration::from_secs(5))
        .await;
    assert_eq!(sends[0]["text"]["body"], "Hello! How can I help you today?");
}

#[tokio::test]
async fn every_documented_example_is_accepted() {
    let app = spawn_api().await;
    let f = files().await;
    customer_writes(&app, CUSTOMER, 60).await;
    let u = |p: &str| format!("{}{p}", f.uri());
    let examples = vec![
        json!({ "contact_phone": CUSTOMER, "message_type": "image", "media_url": u("/product-photo.png"), "caption": "Here is the product you asked about" }),
        json!({ "contact_phone": CUSTOMER, "message_type": "video", "media_url": u("/tutorial.mp4"), "caption": "Watch this tutorial" }),
        json!({ "contact_phone": CUSTOMER, "message_type": "audio", "media_url": u("/voice-note.mp3") }),
        json!({ "contact_phone": CUSTOMER, "message_type": "document", "media_url": u("/report.pdf"), "caption": "Monthly report attached", "filename": "Monthly Report.pdf" }),
        json!({ "contact_phone": CUSTOMER, "message_type": "text", "message": "Did this answer your question?",
                "buttons": { "type": "reply", "reply_buttons": [ { "id": "yes", "title": "Yes, thanks" }, { "id": "no", "title": "No, I need help" } ] } }),
        json!({ "contact_phone": CUSTOMER, "message_type": "text", "message": "Browse our latest catalog.",
                "buttons": { "type": "cta_url", "url_button": { "display_text": "View catalog", "url": "https://example.com" } } }),
    ];
    for (i, e) in examples.into_iter().enumerate() {
        let (status, body) = post(&app, PATH, e.clone()).await;
        assert_eq!(status, 200, "example {i}: {body}");
        assert_eq!(body["message_type"], e["message_type"]);
    }
    let sends = app
        .wait_meta_sends(6, std::time::Duration::from_secs(5))
        .await;
    let kinds: Vec<&str> = sends.iter().map(|s| s["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        vec![
            "image",
            "video",
            "audio",
            "document",
            "interactive",
            "interactive"
        ]
    );
    assert_eq!(sends[3]["document"]["filename"], "Monthly Report.pdf");
    // No contact_name: the contact keeps the profile name the customer's message gave it.
    let conversation = app.store.conversations_page(None, None, 1).await.unwrap();
    assert_eq!(conversation[0].contact.name.as_deref(), Some("Tester"));
}

#[tokio::test]
async fn unnamed_contacts_are_named_user_n() {
    use parley::domain::{ContactRef, InboundContent, InboundMessage, PhoneNumber};
    let app = spawn_api().await;
    // A customer whose provider sent no profile name.
    let message = InboundMessage {
        provider_message_id: "wamid.noname".into(),
        from: ContactRef::Phone(PhoneNumber::parse("+14155550123").unwrap()),
        profile_name: None,
        username: None,
        timestamp: Some(now(&app) - chrono::Duration::minutes(1)),
        content: InboundContent::Text {
            body: "hello".into(),
        },
        context: None,
        referral: None,
    };
    app.store
        .ingest(&[parley::store::IngestItem::Message {
            sender_id: 1,
            message,
            received_at: now(&app),
        }])
        .await
        .unwrap();
    let (status, body) = post(
        &app,
        PATH,
        json!({ "contact_phone": "14155550123", "message_type": "text", "message": "hi" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id: i64 = body["contact_id"].as_str().unwrap().parse().unwrap();
    let contact = app.store.contact(id).await.unwrap().unwrap();
    assert_eq!(contact.name, Some(format!("User #{id}")));
}

#[tokio::test]
async fn no_inbound_message_is_403_like_the_messages_v1_api() {
    let app = spawn_api().await;
    let (status, body) = post(
        &app,
        PATH,
        json!({ "contact_phone": "911234567890", "message_type": "text", "message": "Hello!" }),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({ "detail": "Cannot send free-form message: No inbound message found from this contact. The 24-hour customer service window is not open. Use the template-based /send endpoint instead." })
    );
    insta::assert_json_snapshot!(body);
    assert!(
        app.store
            .conversations_page(None, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing created"
    );
}

#[tokio::test]
async fn expired_window_is_403_naming_the_last_inbound_time_like_the_messages_v1_api() {
    let app = spawn_api().await;
    // The manual clock is 2026-01-01T00:00:30Z; the customer wrote 26 h earlier.
    let ts = now(&app).timestamp() - 26 * 3600 - 30;
    let r = app
        .post_meta(&crate::helpers::meta_text(
            CUSTOMER,
            "wamid.old",
            "hello",
            ts,
        ))
        .await;
    assert_eq!(r.status(), 200);
    let (status, body) = post(
        &app,
        PATH,
        json!({ "contact_phone": CUSTOMER, "message_type": "text", "message": "Hello!" }),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({ "detail": "Cannot send free-form message: The 24-hour customer service window has expired. Last inbound message was at 2025-12-30T22:00:00+00:00. Use the template-based /send endpoint instead." })
    );
    insta::assert_json_snapshot!(body);
}

#[tokio::test]
async fn bad_input_is_400_bad_request_like_the_messages_v1_api() {
    let app = spawn_api().await;
    customer_writes(&app, CUSTOMER, 60).await;
    let (status, body) = post(
        &app,
        PATH,
        json!({ "contact_phone": "+911234567890", "message_type": "text", "message": "Hello!" }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({ "error": "bad_request", "message": "Invalid phone number format" })
    );
    insta::assert_json_snapshot!("invalid_phone", body);
    let (status, body) = post(
        &app,
        PATH,
        json!({ "contact_phone": CUSTOMER, "message_type": "text" }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({ "error": "bad_request", "message": "message is required when message_type is 'text'" })
    );
    insta::assert_json_snapshot!("message_required", body);
    for (name, b) in [
        (
            "too_long",
            json!({ "contact_phone": CUSTOMER, "message_type": "text", "message": "x".repeat(4097) }),
        ),
        (
            "unknown_type",
            json!({ "contact_phone": CUSTOMER, "message_type": "sticker", "media_url": "https://a.example/x.webp" }),
        ),
        (
            "media_url_missing",
            json!({ "contact_phone": CUSTOMER, "message_type": "image" }),
        ),
        (
            "media_url_not_http",
            json!({ "contact_phone": CUSTOMER, "message_type": "image", "media_url": "ftp://a.example/x.png" }),
        ),
        (
            "caption_too_long",
            json!({ "contact_phone": CUSTOMER, "message_type": "image", "media_url": "https://a.example/x.png", "caption": "c".repeat(1025) }),
        ),
        (
            "caption_on_audio",
            json!({ "contact_phone": CUSTOMER, "message_type": "audio", "media_url": "https://a.example/x.mp3", "caption": "hi" }),
        ),
        ("not_json", json!("just a string")),
    ] {
        let (status, body) = post(&app, PATH, b).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert_eq!(body["error"], "bad_request", "{name}");
        insta::assert_json_snapshot!(format!("bad_{name}"), body);
    }
    // A control character (an escape sequence) in the text, a file name past any file
    // system's limit.
    for (b, says) in [
        (
            json!({ "contact_phone": CUSTOMER, "message_type": "text", "message": "hi \u{1b}[31m" }),
            "control character (U+001B)",
        ),
        (
            json!({ "contact_phone": CUSTOMER, "message_type": "document", "media_url": "https://a.example/x.pdf", "filename": "f".repeat(5_000) }),
            "filename must be at most 240 characters",
        ),
        // Names and buttons are stored and sent on: a NUL or an escape in a contact's name
        // would reach every greeting that names them.
        (
            json!({ "contact_phone": CUSTOMER, "message_type": "text", "message": "hi", "contact_name": "Eve\u{1b}[2J\u{7}" }),
            "contact_name has a line break, a tab or another control character (U+001B)",
        ),
        (
            json!({ "contact_phone": CUSTOMER, "message_type": "text", "message": "hi", "contact_name": "Eve\nSmith" }),
            "contact_name has a line break, a tab or another control character (U+000A)",
        ),
    ] {
        let (status, body) = post(&app, PATH, b).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["message"].as_str().unwrap().contains(says), "{body}");
    }
}

#[tokio::test]
async fn button_rule_violations_are_422() {
    let app = spawn_api().await;
    customer_writes(&app, CUSTOMER, 60).await;
    let reply = |buttons: Value| json!({ "contact_phone": CUSTOMER, "message_type": "text", "message": "Pick one", "buttons": { "type": "reply", "reply_buttons": buttons } });
    let cases = vec![
        (
            "both_kinds",
            json!({ "contact_phone": CUSTOMER, "message_type": "text", "message": "m", "buttons": { "type": "reply", "reply_buttons": [{ "id": "a", "title": "A" }], "url_button": { "display_text": "Go", "url": "https://example.com" } } }),
        ),
        (
            "buttons_on_media",
            json!({ "contact_phone": CUSTOMER, "message_type": "image", "media_url": "https://example.com/a.png", "buttons": { "type": "reply", "reply_buttons": [{ "id": "a", "title": "A" }] } }),
        ),
        ("no_buttons", reply(json!([]))),
        (
            "four_buttons",
            reply(
                json!([{ "id": "a", "title": "A" }, { "id": "b", "title": "B" }, { "id": "c", "title": "C" }, { "id": "d", "title": "D" }]),
            ),
        ),
        (
            "duplicate_titles",
            reply(json!([{ "id": "a", "title": "Same" }, { "id": "b", "title": "Same" }])),
        ),
        (
            "long_title",
            reply(json!([{ "id": "a", "title": "This title is too long" }])),
        ),
        (
            "long_id",
            reply(json!([{ "id": "i".repeat(257), "title": "A" }])),
        ),
        (
            "bad_url",
            json!({ "contact_phone": CUSTOMER, "message_type": "text", "message": "m", "buttons": { "type": "cta_url", "url_button": { "display_text": "Go", "url": "example.com" } } }),
        ),
        (
            "long_text_with_buttons",
            json!({ "contact_phone": CUSTOMER, "message_type": "text", "message": "x".repeat(1025), "buttons": { "type": "reply", "reply_buttons": [{ "id": "a", "title": "A" }] } }),
        ),
    ];
    for (name, b) in cases {
        let (status, body) = post(&app, PATH, b).await;
        assert_eq!(status, 422, "{name}: {body}");
        insta::assert_json_snapshot!(format!("buttons_{name}"), body);
    }
    // A NUL, a line break or an escape in a button (WhatsApp shows none of them).
    for (buttons, says) in [
        (
            json!([{ "id": "a\u{0}", "title": "A" }]),
            "buttons.reply_buttons[0].id has a line break, a tab or another control character",
        ),
        (
            json!([{ "id": "a", "title": "A\nB\u{1b}" }]),
            "buttons.reply_buttons[0].title has a line break",
        ),
    ] {
        let (status, body) = post(&app, PATH, reply(buttons)).await;
        assert_eq!(status, 422, "{body}");
        assert!(body["detail"].as_str().unwrap().contains(says), "{body}");
    }
    assert!(app.meta_sends().await.is_empty());
}

#[tokio::test]
async fn media_is_checked_against_whatsapps_limits_before_acceptance() {
    let app = spawn_api().await;
    let f = files().await;
    customer_writes(&app, CUSTOMER, 60).await;
    for (name, p, ty) in [
        ("too_big", "/huge.png", "image"),
        ("wrong_type", "/anim.gif", "image"),
        ("missing", "/gone.png", "image"),
    ] {
        let (status, body) = post(&app, PATH, json!({ "contact_phone": CUSTOMER, "message_type": ty, "media_url": format!("{}{p}", f.uri()) })).await;
        assert_eq!(status, 422, "{name}: {body}");
        let detail = body["detail"]
            .as_str()
            .unwrap()
            .replace(&f.uri(), "[server]");
        insta::assert_snapshot!(format!("media_{name}"), detail);
    }
    // Without allow_private_networks the check refuses loopback addresses.
    let strict = spawn_with(Options {
        manual_clock: true,
        extra_yaml: api_yaml(1000, 1000).replace(
            "allow_private_networks: true",
            "allow_private_networks: false",
        ),
        config_edits: EDITS.to_vec(),
        ..Options::default()
    })
    .await;
    customer_writes(&strict, CUSTOMER, 60).await;
    let (status, body) = post(&strict, PATH, json!({ "contact_phone": CUSTOMER, "message_type": "image", "media_url": format!("{}/product-photo.png", f.uri()) })).await;
    assert_eq!(status, 422);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("private network address"),
        "{body}"
    );
}

#[tokio::test]
async fn waba_phone_id_picks_the_sender() {
    let app = spawn_api().await;
    customer_writes(&app, CUSTOMER, 60).await;
    let (status, _) = post(&app, PATH, json!({ "contact_phone": CUSTOMER, "message_type": "text", "message": "a", "waba_phone_id": crate::helpers::PHONE_NUMBER_ID })).await;
    assert_eq!(status, 200);
    let (status, _) = post(&app, PATH, json!({ "contact_phone": CUSTOMER, "message_type": "text", "message": "b", "waba_phone_id": "15550783880" })).await;
    assert_eq!(status, 200);
    let (status, body) = post(&app, PATH, json!({ "contact_phone": CUSTOMER, "message_type": "text", "message": "c", "waba_phone_id": "999" })).await;
    assert_eq!(status, 404);
    insta::assert_json_snapshot!("unknown_waba_phone_id", body);
}
