//! The public API through HTTP: the `/api/user/whatsapp/…` success and error bodies
//! (snapshots, and the same fields as the hosted platforms' JSON in seeds 000–002),
//! validation, auth and rate limits. `/api/v1/messages/send-message` is in
//! `api_messages_v1.rs`, the conversations and read API in `api_reads.rs`, the property
//! test in `api_props.rs`.

use crate::helpers::{meta_text, spawn_with, Options, TestApp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const KEY: &str = "test-key-crm";
pub const CUSTOMER: &str = "16315551181";

/// Config for the API tests: one key, a generous rate limit, media checks that may reach
/// the wiremock doubles on 127.0.0.1.
pub fn api_yaml(per_second: u32, burst: u32) -> String {
    format!(
        "api_keys:\n  - {{ name: crm, key_sha256: \"{}\" }}\nrate_limit: {{ per_second: {per_second}, burst: {burst} }}\napi: {{ media_check: {{ allow_private_networks: true, timeout: 2s }} }}\n",
        hex::encode(Sha256::digest(KEY.as_bytes()))
    )
}

/// A pending template, and a spend limit on the sandbox sender (id 3). Its old flat
/// `prices` still load (unused: the rate card prices each message).
pub const EDITS: &[(&str, &str)] = &[
    (
        "templates:\n",
        "templates:\n  - { id: 46, name: promo, language: en, status: pending, body: \"Sale {{1}}\" }\n  - { id: 47, name: appointment, language: en, status: approved, body: \"Hi {{1}}, see you on {{2}} at {{3}}.\" }\n",
    ),
    (
        "phone_number: \"+15550000000\" }",
        "phone_number: \"+15550000000\", spend_limit: { amount: 0.04, prices: { text: 0.005, template: 0.05 } } }",
    ),
];

pub async fn spawn_api() -> TestApp {
    spawn_api_editing(&[]).await
}

/// `spawn_api` with `more` edits of the config after `EDITS`.
pub async fn spawn_api_editing(more: &[(&'static str, &'static str)]) -> TestApp {
    let mut edits = EDITS.to_vec();
    edits.extend_from_slice(more);
    spawn_with(Options {
        manual_clock: true,
        extra_yaml: api_yaml(1000, 1000),
        config_edits: edits,
        ..Options::default()
    })
    .await
}

pub fn now(app: &TestApp) -> chrono::DateTime<chrono::Utc> {
    use parley::domain::Clock;
    app.clock.as_ref().expect("manual clock").now()
}

/// The customer writes to the Meta sender `minutes_ago` minutes before the app's clock.
pub async fn customer_writes(app: &TestApp, from: &str, minutes_ago: i64) {
    let ts = now(app).timestamp() - minutes_ago * 60;
    let wamid = format!("wamid.in.{}", uuid::Uuid::new_v4().simple());
    let r = app
        .post_meta(&meta_text(from, &wamid, "hello there", ts))
        .await;
    assert_eq!(r.status(), 200);
}

pub async fn call(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = app
        .http
        .request(method.parse().unwrap(), format!("{}{path}", app.addr))
        .bearer_auth(KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, v)
}

pub async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    call(app, "POST", path, Some(body)).await
}

/// Same keys at every level, and the same JSON types, as the documented example.
pub fn assert_shape(actual: &Value, example: &Value) {
    match (actual, example) {
        (Value::Object(a), Value::Object(s)) => {
            let ak: Vec<&String> = a.keys().collect();
            let sk: Vec<&String> = s.keys().collect();
            let mut ak_sorted = ak.clone();
            ak_sorted.sort();
            let mut sk_sorted = sk.clone();
            sk_sorted.sort();
            assert_eq!(
                ak_sorted, sk_sorted,
                "fields differ from the example:\n{actual:#}\nexample:\n{example:#}"
            );
            for (k, v) in s {
                assert_shape(&a[k], v);
            }
        }
        (a, s) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(s),
            "{a} and the example's {s} are of different JSON types"
        ),
    }
}

fn freeform_body() -> Value {
    json!({ "sender_id": 1, "recipient_phone": format!("+{CUSTOMER}"),
            "message": "Thank you for your inquiry! Our team will get back to you within 2 hours." })
}

#[tokio::test]
async fn freeform_inside_the_window_is_queued_and_answers_like_the_user_whatsapp_api() {
    let app = spawn_api().await;
    customer_writes(&app, CUSTOMER, 15).await;
    let (status, body) = post(&app, "/api/user/whatsapp/send-freeform", freeform_body()).await;
    assert_eq!(status, 200, "{body}");
    assert_shape(
        &body,
        &json!({
        "success": true, "conversation_id": 1234, "message_id": 567, "whatsapp_message_id": 890,
        "message_sid": "SMxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "session_status": { "is_open": true, "can_send_freeform": true, "requires_template": false,
            "message": "Session open (23 hr 45 min remaining). Unlimited free-form messages allowed.",
            "minutes_remaining": 1425, "expires_at": "2026-02-25T10:30:00+00:00" } }),
    );
    assert_eq!(body["message_id"], body["whatsapp_message_id"]);
    assert_eq!(
        body["message_sid"],
        format!("parley-{}", body["message_id"])
    );
    insta::assert_json_snapshot!(body, {
        ".conversation_id" => "[id]", ".message_id" => "[id]", ".whatsapp_message_id" => "[id]",
        ".message_sid" => "[sid]"
    });
    // Same outbox as flow sends: it reaches the provider.
    let sends = app
        .wait_meta_sends(1, std::time::Duration::from_secs(5))
        .await;
    assert_eq!(sends[0]["text"]["body"], freeform_body()["message"]);
    assert_eq!(sends[0]["to"], CUSTOMER);
}

#[tokio::test]
async fn freeform_to_a_customer_who_never_wrote_is_session_expired_like_the_user_whatsapp_api() {
    let app = spawn_api().await;
    let (status, body) = post(&app, "/api/user/whatsapp/send-freeform", freeform_body()).await;
    assert_eq!(status, 403);
    assert_shape(
        &body,
        &json!({
        "success": false,
        "error": "The 24-hour messaging window is closed. Customer must reply first, or use a template message.",
        "error_code": "SESSION_EXPIRED",
        "session_status": { "is_open": false, "can_send_freeform": false, "requires_template": true,
            "message": "Session expired. Send a template or wait for customer to reply." } }),
    );
    insta::assert_json_snapshot!(body);
    assert!(app
        .store
        .conversations_page(None, None, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn freeform_after_the_window_closed_is_session_expired() {
    let app = spawn_api().await;
    customer_writes(&app, CUSTOMER, 25 * 60).await;
    let (status, body) = post(&app, "/api/user/whatsapp/send-freeform", freeform_body()).await;
    assert_eq!(status, 403);
    assert_eq!(body["error_code"], "SESSION_EXPIRED");
    assert_eq!(body["session_status"]["is_open"], false);
}

#[tokio::test]
async fn freeform_from_a_stopped_sender_is_offline_like_the_user_whatsapp_api() {
    let app = spawn_api().await;
    customer_writes(&app, CUSTOMER, 15).await;
    app.store
        .stop_sender(1, Some(190), "access token expired", now(&app))
        .await
        .unwrap();
    let (status, body) = post(&app, "/api/user/whatsapp/send-freeform", freeform_body()).await;
    assert_eq!(status, 503);
    assert_shape(
        &body,
        &json!({ "success": false,
        "error": "Sender is not online. Current status: Offline", "error_code": "SENDER_OFFLINE" }),
    );
    insta::assert_json_snapshot!(body);
}

fn template_body() -> Value {
    json!({ "sender_id": 1, "template_id": 47, "recipient_phone": "+12345678901",
            "recipient_name": "John Doe",
            "variables": { "1": "John", "2": "January 15, 2026", "3": "2:00 PM" } })
}

#[tokio::test]
async fn template_send_is_queued_and_answers_like_the_user_whatsapp_api() {
    let app = spawn_api().await;
    let (status, body) = post(&app, "/api/user/whatsapp/send", template_body()).await;
    assert_eq!(status, 200, "{body}");
    assert_shape(
        &body,
        &json!({ "success": true, "conversation_id": 1234, "message_id": 567,
        "whatsapp_message_id": 890, "message_sid": "SMxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "status": "queued" }),
    );
    insta::assert_json_snapshot!(body, {
        ".conversation_id" => "[id]", ".message_id" => "[id]", ".whatsapp_message_id" => "[id]",
        ".message_sid" => "[sid]"
    });
    let conversation = app
        .store
        .conversation(body["conversation_id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    let contact = app
        .store
        .contact(conversation.contact_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.name.as_deref(), Some("John Doe"));
    let sends = app
        .wait_meta_sends(1, std::time::Duration::from_secs(5))
        .await;
    assert_eq!(sends[0]["type"], "template");
    assert_eq!(sends[0]["template"]["name"], "appointment");
}

#[tokio::test]
async fn template_from_an_unknown_sender_is_not_found_like_the_user_whatsapp_api() {
    let app = spawn_api().await;
    let mut b = template_body();
    b["sender_id"] = json!(12);
    let (status, body) = post(&app, "/api/user/whatsapp/send", b).await;
    assert_eq!(status, 404);
    assert_shape(
        &body,
        &json!({ "success": false,
        "error": "Sender not found or does not belong to you", "error_code": "SENDER_NOT_FOUND" }),
    );
    insta::assert_json_snapshot!(body);
}

/// A Twilio sender sends a template only by its Content SID: a template without one is
/// refused at once instead of answered "queued" and failed later.
#[tokio::test]
async fn a_template_without_a_content_sid_is_refused_for_a_twilio_sender() {
    let app = spawn_api().await;
    let mut b = template_body();
    b["sender_id"] = json!(2);
    let (status, body) = post(&app, "/api/user/whatsapp/send", b).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_code"], "TEMPLATE_NOT_APPROVED", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("has no twilio_content_sid"),
        "{body}"
    );
    // One with its Content SID goes.
    let b = json!({ "sender_id": 2, "template_id": 45, "recipient_phone": "+12345678901",
                    "variables": { "1": "John" } });
    let (status, body) = post(&app, "/api/user/whatsapp/send", b).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn pending_template_is_not_approved_like_the_user_whatsapp_api() {
    let app = spawn_api().await;
    let b = json!({ "sender_id": 1, "template_id": 46, "recipient_phone": "+12345678901", "variables": { "1": "x" } });
    let (status, body) = post(&app, "/api/user/whatsapp/send", b).await;
    assert_eq!(status, 422);
    assert_shape(
        &body,
        &json!({ "success": false,
        "error": "Template is not approved. Current status: pending", "error_code": "TEMPLATE_NOT_APPROVED" }),
    );
    insta::assert_json_snapshot!(body);
}

#[tokio::test]
async fn spend_limit_reached_is_insufficient_balance_like_the_user_whatsapp_api() {
    let app = spawn_api().await;
    // Sandbox sender 3: a 0.04 budget; template 47 has no category, so it is priced as
    // marketing, 0.025 to a +1 number on the shipped rate card: the second is refused.
    let mut b = template_body();
    b["sender_id"] = json!(3);
    let (status, _) = post(&app, "/api/user/whatsapp/send", b.clone()).await;
    assert_eq!(status, 200);
    let (status, body) = post(&app, "/api/user/whatsapp/send", b).await;
    assert_eq!(status, 402);
    assert_shape(
        &body,
        &json!({ "success": false,
        "error": "Insufficient balance. Please top up your account.", "error_code": "INSUFFICIENT_BALANCE" }),
    );
    insta::assert_json_snapshot!(body);
}

#[tokio::test]
async fn bad_requests_name_the_field_and_change_nothing() {
    let app = spawn_api().await;
    customer_writes(&app, CUSTOMER, 15).await;
    let long = "x".repeat(4097);
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "bad_phone",
            "/api/user/whatsapp/send-freeform",
            json!({ "sender_id": 1, "recipient_phone": "+12", "message": "hi" }),
        ),
        (
            "letters_in_phone",
            "/api/user/whatsapp/send-freeform",
            json!({ "sender_id": 1, "recipient_phone": "+1415abc8886", "message": "hi" }),
        ),
        (
            "message_too_long",
            "/api/user/whatsapp/send-freeform",
            json!({ "sender_id": 1, "recipient_phone": format!("+{CUSTOMER}"), "message": long }),
        ),
        (
            "missing_message",
            "/api/user/whatsapp/send-freeform",
            json!({ "sender_id": 1, "recipient_phone": format!("+{CUSTOMER}") }),
        ),
        (
            "message_of_zero_width_spaces",
            "/api/user/whatsapp/send-freeform",
            json!({ "sender_id": 1, "recipient_phone": format!("+{CUSTOMER}"), "message": "\u{200b}\u{200b}" }),
        ),
        (
            "sender_id_not_a_number",
            "/api/user/whatsapp/send-freeform",
            json!({ "sender_id": "one", "recipient_phone": format!("+{CUSTOMER}"), "message": "hi" }),
        ),
        (
            "name_too_long",
            "/api/user/whatsapp/send",
            json!({ "sender_id": 1, "template_id": 47, "recipient_phone": "+12345678901", "recipient_name": "n".repeat(256), "variables": {"1":"a","2":"b","3":"c"} }),
        ),
        (
            "name_with_an_escape",
            "/api/user/whatsapp/send",
            json!({ "sender_id": 1, "template_id": 47, "recipient_phone": "+12345678901", "recipient_name": "Eve\u{1b}[2J\u{0}", "variables": {"1":"a","2":"b","3":"c"} }),
        ),
        (
            "variables_mismatch",
            "/api/user/whatsapp/send",
            json!({ "sender_id": 1, "template_id": 47, "recipient_phone": "+12345678901", "variables": {"1":"a","4":"d"} }),
        ),
        (
            "unknown_template",
            "/api/user/whatsapp/send",
            json!({ "sender_id": 1, "template_id": 999, "recipient_phone": "+12345678901" }),
        ),
    ];
    for (name, path, body) in cases {
        let (status, got) = post(&app, path, body).await;
        assert!(matches!(status, 400 | 404 | 422), "{name}: {status} {got}");
        insta::assert_json_snapshot!(
            format!("bad_request_{name}"),
            json!({ "status": status, "body": got })
        );
    }
    // Not JSON at all, and JSON that is not an object.
    for (name, raw) in [
        ("invalid_json", "{\"sender_id\": 1,"),
        ("not_an_object", "[1, 2]"),
    ] {
        let r = app
            .http
            .post(format!("{}/api/user/whatsapp/send-freeform", app.addr))
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let got: Value = r.json().await.unwrap();
        insta::assert_json_snapshot!(
            format!("bad_request_{name}"),
            json!({ "status": status, "body": got })
        );
    }
    let conversation = app.store.conversations_page(None, None, 10).await.unwrap();
    assert_eq!(
        conversation.len(),
        1,
        "only the customer's own conversation"
    );
    assert!(app
        .store
        .conversation_outbound(conversation[0].conversation.id, None, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn session_status_reports_open_and_closed_windows() {
    let app = spawn_api().await;
    customer_writes(&app, CUSTOMER, 15).await;
    let (status, open) = call(
        &app,
        "GET",
        &format!("/api/user/whatsapp/session-status?sender_id=1&recipient_phone=%2B{CUSTOMER}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    insta::assert_json_snapshot!("session_status_open", open);
    let (_, closed) = call(
        &app,
        "GET",
        "/api/user/whatsapp/session-status?sender_id=1&recipient_phone=%2B14155550000",
        None,
    )
    .await;
    insta::assert_json_snapshot!("session_status_closed", closed);
    let (status, missing) = call(
        &app,
        "GET",
        "/api/user/whatsapp/session-status?sender_id=1",
        None,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(missing["field"], "recipient_phone");
    // A parameter given twice: which was meant cannot be known.
    let (status, twice) = call(
        &app,
        "GET",
        &format!("/api/user/whatsapp/session-status?sender_id=99&sender_id=1&recipient_phone=%2B{CUSTOMER}"),
        None,
    )
    .await;
    assert_eq!(status, 422, "{twice}");
    assert_eq!(twice["field"], "sender_id");
}

#[tokio::test]
async fn senders_show_their_status_and_filter_by_it() {
    let app = spawn_api().await;
    app.store
        .stop_sender(2, Some(20003), "authentication failed", now(&app))
        .await
        .unwrap();
    let (_, all) = call(&app, "GET", "/api/user/whatsapp/senders", None).await;
    let statuses: Vec<(i64, String)> = all["senders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_i64().unwrap(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            (1, "online".into()),
            (2, "offline".into()),
            (3, "online".into())
        ]
    );
    let (_, offline) = call(
        &app,
        "GET",
        "/api/user/whatsapp/senders?status=offline",
        None,
    )
    .await;
    insta::assert_json_snapshot!("senders_offline", offline, { ".senders[].offline_since" => "[time]" });
    let (status, _) = call(
        &app,
        "GET",
        "/api/user/whatsapp/senders?status=sleepy",
        None,
    )
    .await;
    assert_eq!(status, 422);
    let (_, templates) = call(
        &app,
        "GET",
        "/api/user/whatsapp/templates?status=approved",
        None,
    )
    .await;
    insta::assert_json_snapshot!("templates_approved", templates);
}

#[tokio::test]
async fn template_opens_window_switch_emulates_the_platforms() {
    let mut edits = EDITS.to_vec();
    edits.push((
        "flows: {",
        "window: { template_opens_window: true }\nflows: {",
    ));
    let app = spawn_with(Options {
        manual_clock: true,
        extra_yaml: api_yaml(1000, 1000),
        config_edits: edits,
        ..Options::default()
    })
    .await;
    let (status, _) = post(&app, "/api/user/whatsapp/send", template_body()).await;
    assert_eq!(status, 200);
    let (_, s) = call(
        &app,
        "GET",
        "/api/user/whatsapp/session-status?sender_id=1&recipient_phone=%2B12345678901",
        None,
    )
    .await;
    assert_eq!(s["session_status"]["is_open"], true, "{s}");
    // By default (Meta's rule) a template opens nothing.
    let app = spawn_api().await;
    post(&app, "/api/user/whatsapp/send", template_body()).await;
    let (_, s) = call(
        &app,
        "GET",
        "/api/user/whatsapp/session-status?sender_id=1&recipient_phone=%2B12345678901",
        None,
    )
    .await;
    assert_eq!(s["session_status"]["is_open"], false);
}

#[tokio::test]
async fn api_keys_are_required_and_checked() {
    let app = spawn_api().await;
    let url = format!("{}/api/user/whatsapp/senders", app.addr);
    let missing = app.http.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    insta::assert_json_snapshot!("auth_missing_key", missing.json::<Value>().await.unwrap());
    let wrong = app
        .http
        .get(&url)
        .bearer_auth("not-the-key")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    insta::assert_json_snapshot!("auth_wrong_key", wrong.json::<Value>().await.unwrap());
    let right = app.http.get(&url).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(right.status(), 200);
    // `/api/v1` answers in its own shape.
    let wap = app
        .http
        .post(format!("{}/api/v1/messages/send-message", app.addr))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(wap.status(), 401);
    insta::assert_json_snapshot!(
        "auth_missing_key_messages_v1",
        wap.json::<Value>().await.unwrap()
    );
    // The OpenAPI document is public and lists every route.
    let doc: Value = app
        .http
        .get(format!("{}/api/openapi.json", app.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/user/whatsapp/send-freeform"]["post"].is_object());
}

#[tokio::test]
async fn a_key_over_its_burst_gets_429_with_retry_after() {
    let app = spawn_with(Options {
        extra_yaml: api_yaml(1, 3),
        ..Options::default()
    })
    .await;
    let url = format!("{}/api/user/whatsapp/templates", app.addr);
    for _ in 0..3 {
        let r = app.http.get(&url).bearer_auth(KEY).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = app.http.get(&url).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1).contains(&retry), "Retry-After {retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error_code"], "RATE_LIMITED");
    assert_eq!(body["success"], false);
    // A wrong key is refused before it can use anyone's budget.
    let r = app
        .http
        .get(&url)
        .bearer_auth("other")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = app.http.get(&url).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(r.status(), 200, "the bucket refills at per_second");
}

#[tokio::test]
async fn framework_errors_are_json_too() {
    let app = spawn_api().await;
    let (status, body) = call(&app, "GET", "/api/user/whatsapp/send-freeform", None).await;
    assert_eq!(status, 405);
    assert_eq!(body["error_code"], "METHOD_NOT_ALLOWED");
    let (status, body) = call(&app, "GET", "/api/nothing/here", None).await;
    assert_eq!(status, 404);
    assert_eq!(body["error_code"], "NOT_FOUND");
    let big = json!({ "sender_id": 1, "recipient_phone": "+14155238886", "message": "x".repeat(100_000) });
    let (status, body) = post(&app, "/api/user/whatsapp/send-freeform", big).await;
    assert_eq!(status, 413);
    assert_eq!(body["error_code"], "PAYLOAD_TOO_LARGE");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("64 KiB (65536 bytes)"),
        "{body}"
    );
    // A route with a larger limit names its own.
    let big = json!({ "sender_id": 1, "recipients": ["x".repeat(1024 * 1024)] });
    let (status, body) = post(&app, "/api/broadcasts", big).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error_code"], "PAYLOAD_TOO_LARGE");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("1 MiB (1048576 bytes)"),
        "{body}"
    );
}

#[tokio::test]
async fn a_path_id_that_is_no_id_is_not_found_in_plain_words() {
    let app = spawn_api().await;
    for path in [
        "/api/messages/abc/media",
        "/api/messages/1.5/media",
        "/api/messages/9223372036854775808/media",
        "/api/messages/%ff/media",
        "/api/conversations/abc/messages",
        "/api/conversations/%ff/messages",
        "/api/broadcasts/%ff",
    ] {
        let (status, body) = call(&app, "GET", path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(
            body["error_code"].as_str().unwrap().ends_with("NOT_FOUND"),
            "{path}: {body}"
        );
        let message = body["error"].as_str().unwrap();
        assert!(
            !message.contains("i64") && !message.contains("Cannot parse"),
            "{path}: {message}"
        );
    }
    let (_, body) = call(&app, "GET", "/api/messages/abc/media", None).await;
    assert!(
        body["error"].as_str().unwrap().contains("`message_id`"),
        "{body}"
    );
    let (_, body) = call(&app, "GET", "/api/conversations/%ff/messages", None).await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("`conversation_id`"),
        "{body}"
    );
    app.shutdown().await;
}
