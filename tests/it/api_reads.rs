//! Messages into a conversation, the sender health check (seed 004) and the read API
//! (conversations, messages with delivery statuses, handoff release, flows) through HTTP.

use crate::api::{api_yaml, call, customer_writes, post, spawn_api, CUSTOMER, EDITS, KEY};
use crate::helpers::{eventually, meta_status, meta_text, spawn_with, Options, ECHO_FLOW};
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

const HANDOFF_FLOW: &str = "id: human_handoff\ntriggers:\n  - keyword: [agent]\n    interrupt: true\nsteps:\n  - handoff:\n      timeout: 4h\n      message: \"A person will answer.\"\n";

async fn conversation_id(app: &crate::helpers::TestApp) -> i64 {
    app.store.conversations_page(None, None, 1).await.unwrap()[0]
        .conversation
        .id
}

#[tokio::test]
async fn conversation_messages_send_text_media_and_locations() {
    let app = spawn_api().await;
    customer_writes(&app, CUSTOMER, 10).await;
    let id = conversation_id(&app).await;
    let url = format!("/api/conversations/{id}/messages");
    let (status, body) = post(
        &app,
        &url,
        json!({ "type": "text", "text": "Hello from the API" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    insta::assert_json_snapshot!("conversation_text", body, {
        ".conversation_id" => "[id]", ".message_id" => "[id]", ".message_sid" => "[sid]"
    });
    let (status, body) = post(&app, &url, json!({ "type": "location", "location": { "latitude": 52.52, "longitude": 13.405, "name": "Office", "address": "Alexanderplatz 1, Berlin" } })).await;
    assert_eq!(status, 200, "{body}");
    let sends = app.wait_meta_sends(2, Duration::from_secs(5)).await;
    assert_eq!(sends[1]["type"], "location");
    assert_eq!(sends[1]["location"]["name"], "Office");
    for (name, b) in [
        (
            "bad_latitude",
            json!({ "type": "location", "location": { "latitude": 91, "longitude": 0 } }),
        ),
        ("missing_text", json!({ "type": "text" })),
        ("unknown_type", json!({ "type": "sticker" })),
    ] {
        let (status, body) = post(&app, &url, b).await;
        assert_eq!(status, 422, "{name}: {body}");
        insta::assert_json_snapshot!(format!("conversation_{name}"), body);
    }
}

#[tokio::test]
async fn unknown_conversations_and_closed_windows_are_refused() {
    let app = spawn_api().await;
    let (status, body) = post(
        &app,
        "/api/conversations/999/messages",
        json!({ "type": "text", "text": "hi" }),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "Conversation not found");
    insta::assert_json_snapshot!("conversation_not_found", body);
    customer_writes(&app, CUSTOMER, 25 * 60).await;
    let id = conversation_id(&app).await;
    let (status, body) = post(
        &app,
        &format!("/api/conversations/{id}/messages"),
        json!({ "type": "text", "text": "hi" }),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["error_code"], "SESSION_EXPIRED");
}

#[tokio::test]
async fn conversations_and_messages_read_back_with_statuses() {
    let app = spawn_with(Options {
        extra_yaml: api_yaml(1000, 1000),
        config_edits: EDITS.to_vec(),
        ..Options::default()
    })
    .await;
    let ts = chrono::Utc::now().timestamp();
    app.post_meta(&meta_text(CUSTOMER, "wamid.a", "hi there", ts))
        .await;
    app.post_meta(&meta_text("16315551182", "wamid.b", "hello", ts))
        .await;
    let sends = app.wait_meta_sends(1, Duration::from_secs(5)).await;
    assert_eq!(sends[0]["text"]["body"], "echo: hi there");
    // The echo reply fails with 131026 at the provider.
    let wamid = eventually(Duration::from_secs(5), "the reply's wamid", || async {
        let id = app
            .store
            .conversations_page(None, None, 10)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.contact.key == format!("+{CUSTOMER}"))?
            .conversation
            .id;
        app.store
            .conversation_outbound(id, None, 10)
            .await
            .unwrap()
            .first()?
            .provider_message_id
            .clone()
    })
    .await;
    app.post_meta(&meta_status(&wamid, "failed", Some(131026), ts))
        .await;

    let (status, list) = call(&app, "GET", "/api/conversations?limit=1", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(list["conversations"][0]["contact"]["phone"], "+16315551182");
    let next = list["next_before"].as_i64().unwrap();
    let (_, page2) = call(
        &app,
        "GET",
        &format!("/api/conversations?limit=1&before={next}"),
        None,
    )
    .await;
    let c = &page2["conversations"][0];
    assert_eq!(c["contact"]["phone"], format!("+{CUSTOMER}"));
    assert_eq!(c["window"]["is_open"], true);
    assert_eq!(c["handoff"], Value::Null);
    let id = c["id"].as_i64().unwrap();

    let messages = eventually(Duration::from_secs(5), "the failed status", || async {
        let (_, m) = call(
            &app,
            "GET",
            &format!("/api/conversations/{id}/messages"),
            None,
        )
        .await;
        (m["messages"][0]["status"] == "failed").then_some(m)
    })
    .await;
    let list = messages["messages"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["direction"], "outbound");
    assert_eq!(list[0]["error_code"], 131026);
    assert_eq!(list[0]["text"], "echo: hi there");
    assert_eq!(list[1]["direction"], "inbound");
    assert_eq!(list[1]["text"], "hi there");
    // Paging one at a time walks the same list.
    let (_, first) = call(
        &app,
        "GET",
        &format!("/api/conversations/{id}/messages?limit=1"),
        None,
    )
    .await;
    let cursor = first["next_before"].as_str().unwrap().to_string();
    let (_, second) = call(
        &app,
        "GET",
        &format!("/api/conversations/{id}/messages?limit=1&before={cursor}"),
        None,
    )
    .await;
    assert_eq!(second["messages"][0]["direction"], "inbound");
    let (status, _) = call(&app, "GET", "/api/conversations/77777/messages", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn release_hands_the_conversation_back_to_the_bot() {
    let app = spawn_with(Options {
        extra_yaml: api_yaml(1000, 1000),
        flows: vec![("echo.yaml", ECHO_FLOW), ("handoff.yaml", HANDOFF_FLOW)],
        ..Options::default()
    })
    .await;
    let ts = chrono::Utc::now().timestamp();
    app.post_meta(&meta_text(CUSTOMER, "wamid.1", "hi", ts))
        .await;
    app.wait_meta_sends(1, Duration::from_secs(5)).await;
    let id = conversation_id(&app).await;
    let (status, body) = post(&app, &format!("/api/conversations/{id}/release"), json!({})).await;
    assert_eq!(status, 409);
    insta::assert_json_snapshot!("release_not_in_handoff", body);

    app.post_meta(&meta_text(CUSTOMER, "wamid.2", "agent", ts))
        .await;
    eventually(Duration::from_secs(5), "the handoff", || async {
        let (_, l) = call(&app, "GET", "/api/conversations", None).await;
        (!l["conversations"][0]["handoff"].is_null()).then_some(())
    })
    .await;
    // In handoff the bot stays quiet.
    app.post_meta(&meta_text(CUSTOMER, "wamid.3", "hi again", ts))
        .await;
    let (status, body) = post(&app, &format!("/api/conversations/{id}/release"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "release_queued");
    eventually(Duration::from_secs(5), "the release", || async {
        let (_, l) = call(&app, "GET", "/api/conversations", None).await;
        l["conversations"][0]["handoff"].is_null().then_some(())
    })
    .await;
    app.post_meta(&meta_text(CUSTOMER, "wamid.4", "hi back", ts))
        .await;
    let sends = app.wait_meta_sends(3, Duration::from_secs(5)).await;
    let texts: Vec<&str> = sends
        .iter()
        .map(|s| s["text"]["body"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        texts,
        vec!["echo: hi", "A person will answer.", "echo: hi back"]
    );
}

#[tokio::test]
async fn flows_are_listed_with_their_triggers() {
    let app = spawn_api().await;
    let (status, body) = call(&app, "GET", "/api/flows", None).await;
    assert_eq!(status, 200);
    insta::assert_json_snapshot!("flows", body, { ".loaded_at" => "[time]", ".flows[].file" => "[file]" });
}

#[tokio::test]
async fn sandbox_sender_health_says_the_webhook_check_does_not_apply() {
    let app = spawn_api().await;
    let (status, body) = post(&app, "/api/senders/3/health", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "healthy", "{body}");
    let webhook = &body["checks"]["webhook_verified_recently"];
    assert_eq!(webhook["applicable"], false, "{body}");
    assert_eq!(
        webhook["ok"], true,
        "a check that cannot apply does not fail"
    );
    assert!(
        webhook["detail"]
            .as_str()
            .unwrap()
            .starts_with("not applicable: sandbox sender"),
        "{body}"
    );
    assert!(webhook.get("last_verified_at").is_none(), "{body}");
    assert!(
        body["checks"]["graph_api_version"].is_null(),
        "Meta senders only: {body}"
    );
    // A real sender still has the check.
    let (_, meta) = post(&app, "/api/senders/1/health", json!({})).await;
    assert_eq!(meta["checks"]["webhook_verified_recently"]["ok"], false);
    assert!(meta["checks"]["webhook_verified_recently"]
        .get("applicable")
        .is_none());
}

/// The Graph double answers the health check's read of the number on `version`.
async fn number_lookup_answers(app: &crate::helpers::TestApp, version: &str) {
    Mock::given(method("GET"))
        .and(path_regex(format!(r"^/{}/\d+$", regex::escape(version))))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "106540352242922", "display_phone_number": "15550783880", "verified_name": "Test" })))
        .mount(&app.meta)
        .await;
}

/// A Meta sender on a Graph API version Meta has retired cannot send: its health check
/// says so and is unhealthy, even when the provider answers the read of the number.
#[tokio::test]
async fn a_sender_on_a_retired_graph_api_version_is_unhealthy() {
    let app = crate::api::spawn_api_editing(&[("/v26.0\n", "/v16.0\n")]).await;
    number_lookup_answers(&app, "v16.0").await;
    let (status, body) = post(&app, "/api/senders/1/health", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["credentials_valid"]["ok"], true, "{body}");
    assert_eq!(body["status"], "unhealthy", "{body}");
    let version = &body["checks"]["graph_api_version"];
    assert_eq!(version["ok"], false, "{body}");
    assert!(
        version["detail"].as_str().unwrap().starts_with(
            "sender 1 uses Graph API v16.0, which Meta retired on 2025-05-14: its sends fail"
        ),
        "{body}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn health_check_reports_credentials_webhooks_and_sends_a_test_message() {
    let app = spawn_api().await;
    number_lookup_answers(&app, "v26.0").await;
    let (status, before) = post(&app, "/api/senders/1/health", json!({})).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["checks"]["webhook_verified_recently"]["ok"], false);
    customer_writes(&app, CUSTOMER, 5).await;
    let (_, after) = post(
        &app,
        "/api/senders/1/health",
        json!({ "test_phone": format!("+{CUSTOMER}") }),
    )
    .await;
    insta::assert_json_snapshot!("health_with_test_message", after, {
        ".checks.webhook_verified_recently.last_verified_at" => "[time]",
        ".test_message.conversation_id" => "[id]", ".test_message.message_id" => "[id]", ".test_message.message_sid" => "[sid]",
    });
    let sends = app.wait_meta_sends(1, Duration::from_secs(5)).await;
    assert!(sends[0]["text"]["body"]
        .as_str()
        .unwrap()
        .contains("health check"));
    let (_, closed) = post(
        &app,
        "/api/senders/1/health",
        json!({ "test_phone": "+14155550000" }),
    )
    .await;
    assert_eq!(closed["test_message"]["queued"], false);
    insta::assert_json_snapshot!("health_test_message_window_closed", closed["test_message"]);
    let (status, _) = post(&app, "/api/senders/42/health", json!({})).await;
    assert_eq!(status, 404);
    let r = app
        .http
        .post(format!("{}/api/senders/3/health", app.addr))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "an empty body is fine");
}
