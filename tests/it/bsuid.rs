//! Business-scoped user ids end to end, through the Meta webhook and the Graph API double:
//! a customer whose phone is withheld is answered by BSUID (`recipient`), a BSUID change in
//! the middle of an `ask` carries the flow on, a changed number keeps tags and the window,
//! the API addresses a BSUID, and the sandbox can withhold phones.

use crate::api::{api_yaml, KEY};
use crate::helpers::*;
use parley::domain::Clock;
use serde_json::{json, Value};
use std::time::Duration;

const BSUID: &str = "US.10482957361840527319";
const NEW_BSUID: &str = "US.24817305912873645029";
const WAIT: Duration = Duration::from_secs(10);

const ORDER_FLOW: &str = "id: order\ntriggers: [{keyword: [order]}]\nsteps:\n  - tag: ordering\n  - ask: { text: \"Your order number?\", save_as: n }\n  - send: \"Order {{ vars.n }} noted\"\n";

const GREET_FLOW: &str = "id: greet\ntriggers: [{keyword: [greet]}]\nsteps:\n  - send: \"Hello {{ contact.username }} ({{ contact.user_id }}, {{ contact.phone }})\"\n";

fn envelope(field: &str, value: Value) -> Vec<u8> {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] =
        json!({ "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID });
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": field, "value": value }] }]
    }))
    .unwrap()
}

/// A text from a user who hides their number: the BSUID only in `contacts[].user_id`.
fn from_user(user_id: &str, wamid: &str, text: &str) -> Vec<u8> {
    envelope(
        "messages",
        json!({
            "contacts": [{ "profile": { "username": "@maria" }, "user_id": user_id }],
            "messages": [{ "id": wamid, "timestamp": now_unix().to_string(), "type": "text", "text": { "body": text } }]
        }),
    )
}

fn user_id_update(previous: &str, current: &str) -> Vec<u8> {
    envelope(
        "user_id_update",
        json!({ "user_id_update": [{
            "detail": "User id for Maria has been updated.",
            "user_id": { "previous": previous, "current": current },
            "timestamp": now_unix().to_string()
        }]}),
    )
}

fn changed_number(old: &str, new: &str) -> Vec<u8> {
    envelope(
        "messages",
        json!({ "messages": [{
            "from": old, "id": "wamid.system.1", "timestamp": now_unix().to_string(), "type": "system",
            "system": { "body": format!("User Maria changed from {old} to {new}"), "wa_id": new, "type": "user_changed_number" }
        }]}),
    )
}

async fn post_ok(app: &TestApp, body: &[u8]) {
    let response = app.post_meta(body).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_customer_whose_phone_is_withheld_gets_replies_addressed_by_bsuid() {
    let app = spawn_with(Options {
        flows: vec![("echo.yaml", ECHO_FLOW), ("greet.yaml", GREET_FLOW)],
        ..Options::default()
    })
    .await;
    post_ok(&app, &from_user(BSUID, "wamid.u1", "hi there")).await;
    let sends = app.wait_meta_sends(1, WAIT).await;
    assert_eq!(body_text(&sends[0]), "echo: hi there");
    assert_eq!(sends[0]["recipient"], BSUID, "{:#}", sends[0]);
    assert!(sends[0].get("to").is_none(), "{:#}", sends[0]);
    // When the phone turns up later it joins the same contact, and replies use it.
    let both = envelope(
        "messages",
        json!({
            "contacts": [{ "profile": { "name": "Maria" }, "wa_id": "16315551181", "user_id": BSUID }],
            "messages": [{ "from": "16315551181", "from_user_id": BSUID, "id": "wamid.u2",
                           "timestamp": now_unix().to_string(), "type": "text", "text": { "body": "hi again" } }]
        }),
    );
    post_ok(&app, &both).await;
    let sends = app.wait_meta_sends(2, WAIT).await;
    assert_eq!(sends[1]["to"], "16315551181", "{:#}", sends[1]);
    assert!(sends[1].get("recipient").is_none());
    let by_phone = app
        .store
        .find_conversation(1, "+16315551181")
        .await
        .unwrap()
        .unwrap();
    let by_id = app
        .store
        .find_conversation(1, &format!("bsuid:{BSUID}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_phone.id, by_id.id, "one contact, one conversation");
    // Flows see the username and the id of a customer who hides their number.
    post_ok(&app, &from_user(BSUID, "wamid.u3", "greet me")).await;
    let sends = app.wait_meta_sends(3, WAIT).await;
    assert_eq!(
        body_text(&sends[2]),
        format!("Hello @maria ({BSUID}, +16315551181)")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_bsuid_change_in_the_middle_of_an_ask_carries_the_flow_on() {
    bsuid_change_mid_ask(None, user_id_update(BSUID, NEW_BSUID)).await;
}

/// Since Meta's changelog of 2026-08-11 a BSUID change comes as a `user_changed_user_id`
/// system message naming the old id in `previous_user_id` (no `from`, no `user_id_update`).
#[tokio::test]
async fn a_bsuid_change_told_by_a_system_message_carries_the_flow_on() {
    bsuid_change_mid_ask(None, changed_user_id(BSUID, NEW_BSUID)).await;
}

#[tokio::test]
async fn postgres_a_bsuid_change_in_the_middle_of_an_ask_carries_the_flow_on() {
    if let Some(url) = crate::postgres::fresh_database().await {
        bsuid_change_mid_ask(Some(url), user_id_update(BSUID, NEW_BSUID)).await;
    }
}

fn changed_user_id(previous: &str, current: &str) -> Vec<u8> {
    envelope(
        "messages",
        json!({ "messages": [{
            "id": "wamid.system.uid", "timestamp": now_unix().to_string(), "type": "system",
            "system": { "body": format!("User Maria changed from {previous} to {current}"),
                        "user_id": current, "previous_user_id": previous, "type": "user_changed_user_id" }
        }]}),
    )
}

async fn bsuid_change_mid_ask(database_url: Option<String>, change: Vec<u8>) {
    let app = spawn_with(Options {
        flows: vec![("order.yaml", ORDER_FLOW)],
        database_url,
        ..Options::default()
    })
    .await;
    post_ok(&app, &from_user(BSUID, "wamid.o1", "order")).await;
    let sends = app.wait_meta_sends(1, WAIT).await;
    assert_eq!(body_text(&sends[0]), "Your order number?");
    let before = app
        .store
        .find_conversation(1, &format!("bsuid:{BSUID}"))
        .await
        .unwrap()
        .unwrap();

    post_ok(&app, &change).await;
    eventually(WAIT, "the contact under its new id", || async {
        app.store
            .find_conversation(1, &format!("bsuid:{NEW_BSUID}"))
            .await
            .unwrap()
    })
    .await;

    post_ok(&app, &from_user(NEW_BSUID, "wamid.o2", "12345")).await;
    let sends = app.wait_meta_sends(2, WAIT).await;
    assert_eq!(body_text(&sends[1]), "Order 12345 noted");
    assert_eq!(sends[1]["recipient"], NEW_BSUID);
    let after = app
        .store
        .find_conversation(1, &format!("bsuid:{NEW_BSUID}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.id, before.id, "the same conversation, no duplicate");
    assert!(app
        .store
        .find_conversation(1, &format!("bsuid:{BSUID}"))
        .await
        .unwrap()
        .is_none());
    let contact = app.store.contact(after.contact_id).await.unwrap().unwrap();
    assert_eq!(contact.tags, vec!["ordering".to_string()]);
    let metrics = metrics_page(&app.http, &app.addr).await;
    let moved = metric_value(
        &metrics,
        "parley_contact_identity_changes_total{outcome=\"moved\"}",
    );
    assert!(moved > 0.0, "{moved}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_changed_number_keeps_tags_and_the_window() {
    changed_number_keeps_tags_and_window(None).await;
}

#[tokio::test]
async fn postgres_a_changed_number_keeps_tags_and_the_window() {
    if let Some(url) = crate::postgres::fresh_database().await {
        changed_number_keeps_tags_and_window(Some(url)).await;
    }
}

async fn changed_number_keeps_tags_and_window(database_url: Option<String>) {
    let app = spawn_with(Options {
        flows: vec![("order.yaml", ORDER_FLOW)],
        database_url,
        manual_clock: true,
        extra_yaml: api_yaml(1000, 1000),
        ..Options::default()
    })
    .await;
    let sent_at = app.clock.as_ref().unwrap().now().timestamp();
    post_ok(
        &app,
        &meta_text("16315551181", "wamid.c1", "order", sent_at),
    )
    .await;
    app.wait_meta_sends(1, WAIT).await;
    post_ok(&app, &changed_number("16315551181", "12195555358")).await;
    let moved = eventually(WAIT, "the contact under its new number", || async {
        app.store
            .find_conversation(1, "+12195555358")
            .await
            .unwrap()
    })
    .await;
    assert_eq!(moved.last_inbound_at.map(|t| t.timestamp()), Some(sent_at));
    let contact = app.store.contact(moved.contact_id).await.unwrap().unwrap();
    assert_eq!(contact.tags, vec!["ordering".to_string()]);

    // The window is still open for the new number: a free-form send through the API works.
    let status = app
        .http
        .get(format!(
            "{}/api/user/whatsapp/session-status?sender_id=1&recipient_phone=%2B12195555358",
            app.addr
        ))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let status: Value = status.json().await.unwrap();
    assert_eq!(status["session_status"]["is_open"], true, "{status:#}");

    // The answer from the new number completes the ask on the same conversation.
    post_ok(
        &app,
        &meta_text("12195555358", "wamid.c2", "777", sent_at + 60),
    )
    .await;
    let sends = app.wait_meta_sends(2, WAIT).await;
    assert_eq!(body_text(&sends[1]), "Order 777 noted");
    assert_eq!(sends[1]["to"], "12195555358");
    let after = app
        .store
        .find_conversation(1, "+12195555358")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.id, moved.id);
    assert!(app
        .store
        .find_conversation(1, "+16315551181")
        .await
        .unwrap()
        .is_none());
    app.shutdown().await;
}

#[tokio::test]
async fn the_api_sends_to_a_business_scoped_user() {
    let app = spawn_with(Options {
        extra_yaml: api_yaml(1000, 1000),
        ..Options::default()
    })
    .await;
    post_ok(&app, &from_user(BSUID, "wamid.a1", "hello")).await;
    eventually(WAIT, "the conversation", || async {
        app.store
            .find_conversation(1, &format!("bsuid:{BSUID}"))
            .await
            .unwrap()
    })
    .await;
    let send = |body: Value| {
        app.http
            .post(format!("{}/api/user/whatsapp/send-freeform", app.addr))
            .bearer_auth(KEY)
            .json(&body)
            .send()
    };
    let ok =
        send(json!({ "sender_id": 1, "recipient_user_id": BSUID, "message": "Your parcel left" }))
            .await
            .unwrap();
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap());
    let sends = app.wait_meta_sends(1, WAIT).await;
    assert_eq!(sends[0]["recipient"], BSUID);
    assert_eq!(body_text(&sends[0]), "Your parcel left");

    for (body, expected) in [
        (
            json!({ "sender_id": 1, "recipient_user_id": "+16315551181", "message": "x" }),
            "recipient_user_id is not a business-scoped user id",
        ),
        (
            json!({ "sender_id": 1, "recipient_user_id": BSUID, "recipient_phone": "+16315551181", "message": "x" }),
            "not both",
        ),
    ] {
        let refused = send(body).await.unwrap();
        assert_eq!(refused.status(), 422);
        let text = refused.text().await.unwrap();
        assert!(text.contains(expected), "{text}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_sandbox_that_withholds_phones_answers_by_bsuid() {
    let app = spawn_with(Options {
        extra_yaml: "sandbox: { withhold_phones: true }\n".into(),
        ..Options::default()
    })
    .await;
    let (status, body) = post_json(
        &app,
        "/sandbox/api/messages",
        json!({ "from": "+34600000001", "text": "hi hidden" }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["replies"][0]["summary"], "echo: hi hidden", "{body:#}");
    let conversation = app
        .store
        .conversation(body["message"]["conversation_id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    let contact = app
        .store
        .contact(conversation.contact_id)
        .await
        .unwrap()
        .unwrap();
    assert!(contact.key.starts_with("bsuid:ZZ."), "{}", contact.key);
    assert!(!contact.key.contains("600000001"));
    // The sandbox page's reads still work with the phone the author typed.
    let (status, messages) = get_json(&app, "/sandbox/api/contacts/+34600000001/messages").await;
    assert_eq!(status, 200, "{messages:#}");
    assert_eq!(messages["messages"][0]["summary"], "hi hidden");
    app.shutdown().await;
}

#[tokio::test]
async fn a_twilio_user_without_a_shared_number_is_answered_at_their_bsuid() {
    let app = spawn_app().await;
    let inbound = [
        ("MessageSid", "SMbsuid1"),
        ("AccountSid", "ACtest"),
        ("From", "whatsapp:US.10482957361840527319"),
        ("To", "whatsapp:+15550783881"),
        ("Body", "hi from a username"),
        ("ProfileUsername", "@maria"),
    ];
    assert_eq!(post_twilio(&app, "/webhooks/twilio", &inbound).await, 200);
    let sent = eventually(WAIT, "a send at Twilio", || async {
        app.twilio
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .next()
    })
    .await;
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&sent.body).unwrap();
    let to = form
        .iter()
        .find(|(k, _)| k == "To")
        .map(|(_, v)| v.as_str());
    assert_eq!(to, Some("whatsapp:US.10482957361840527319"), "{form:?}");
    let body = form
        .iter()
        .find(|(k, _)| k == "Body")
        .map(|(_, v)| v.as_str());
    assert_eq!(body, Some("echo: hi from a username"));
    app.shutdown().await;
}

/// The conversations listing gives a customer known only by their business-scoped id
/// that id on its own (`user_id`, what the send API takes) and their username, not only
/// the store's `key: "bsuid:…"`.
#[tokio::test]
async fn the_conversations_listing_names_a_hidden_numbers_user_id_and_username() {
    let app = spawn_with(Options {
        flows: vec![("greet.yaml", GREET_FLOW)],
        extra_yaml: api_yaml(1000, 1000),
        ..Options::default()
    })
    .await;
    post_ok(&app, &from_user(BSUID, "wamid.list.1", "greet")).await;
    app.wait_meta_sends(1, WAIT).await;
    let (status, page) = crate::api::call(&app, "GET", "/api/conversations", None).await;
    assert_eq!(status, 200, "{page:#}");
    let contact = &page["conversations"][0]["contact"];
    assert_eq!(contact["key"], format!("bsuid:{BSUID}"), "{page:#}");
    assert_eq!(contact["user_id"], BSUID, "{page:#}");
    assert_eq!(contact["username"], "@maria", "{page:#}");
    assert_eq!(contact["phone"], Value::Null, "{page:#}");
    app.shutdown().await;
}
