//! Events out, the write side (issue 57), end to end: with an endpoint configured, a
//! conversation's story is written to `events_out` in the order it happened (read straight
//! from the database: delivery is another worker's); with none, nothing is written.

use crate::api::{api_yaml, post, CUSTOMER};
use crate::helpers::{eventually, meta_status, meta_text, spawn_with, Options, TestApp};
use parley::domain::OutEvent;
use serde_json::{json, Value};
use std::time::Duration;

const WELCOME: &str = "id: welcome\ntriggers:\n  - keyword: [hi]\nsteps:\n  - send:\n      text: \"Hello!\"\n  - handoff:\n      timeout: 4h\n      message: \"A person will answer.\"\n";

/// An endpoint to a closed port: nobody answers, the delivery worker retries, and the test
/// reads what was written from `events_out` itself.
fn endpoint_yaml() -> String {
    "events:\n  endpoints:\n    - { name: crm, url: \"http://127.0.0.1:9/hooks\", secrets: [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"] }\n".to_string()
}

async fn spawn(events: bool) -> TestApp {
    spawn_on(events, None).await
}

async fn spawn_on(events: bool, database_url: Option<String>) -> TestApp {
    let mut extra = api_yaml(1000, 1000);
    if events {
        extra.push_str(&endpoint_yaml());
    }
    spawn_with(Options {
        database_url,
        extra_yaml: extra,
        flows: vec![("welcome.yaml", WELCOME)],
        ..Options::default()
    })
    .await
}

async fn logged(app: &TestApp) -> Vec<OutEvent> {
    app.store.logged_events(0, 1000).await.unwrap()
}

/// Waits until an event of `kind` is logged, and returns all of them.
async fn until_logged(app: &TestApp, kind: &str, n: usize) -> Vec<OutEvent> {
    eventually(Duration::from_secs(10), kind, || async {
        let all = logged(app).await;
        (all.iter().filter(|e| e.kind.as_str() == kind).count() >= n).then_some(all)
    })
    .await
}

fn kinds(events: &[OutEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

#[tokio::test]
async fn a_conversations_story_is_written_in_order_with_ids_to_join_on() {
    story(spawn(true).await).await;
}

/// The same on PostgreSQL, where steps and sends commit in batched statements.
#[tokio::test]
async fn a_conversations_story_is_written_in_order_on_postgres() {
    let Some(url) = crate::postgres::fresh_database().await else {
        return;
    };
    story(spawn_on(true, Some(url)).await).await;
}

async fn story(app: TestApp) {
    let ts = chrono::Utc::now().timestamp();
    app.post_meta(&meta_text(CUSTOMER, "wamid.hi", "hi", ts))
        .await;
    app.wait_meta_sends(2, Duration::from_secs(10)).await;
    let events = until_logged(&app, "message.sent", 2).await;
    let conversation = events[0].conversation_id.expect("a conversation");
    assert!(events
        .iter()
        .all(|e| e.conversation_id == Some(conversation)));
    assert!(events.iter().all(|e| e.sender_id == Some(1)));
    assert_eq!(
        kinds(&events),
        [
            "contact.created",
            "message.received",
            "flow.started",
            "flow.finished",
            "handoff.began",
            "message.sent",
            "message.sent"
        ]
    );
    assert_eq!(events[0].data["via"], "message");
    assert_eq!(events[0].data["contact"]["phone"], format!("+{CUSTOMER}"));
    let events = &events[1..];
    let received = &events[0].data;
    assert_eq!(received["provider_message_id"], "wamid.hi");
    assert_eq!(received["content"]["text"], "hi");
    assert_eq!(received["contact"]["phone"], format!("+{CUSTOMER}"));
    assert_eq!(received["conversation_id"], conversation);
    assert_eq!(
        (&events[1].data["flow"], &events[1].data["run"]),
        (&json!("welcome"), &json!(1))
    );
    assert_eq!(events[2].data["outcome"], "handed_off");
    assert_eq!(events[3].data["flow"], "welcome");
    assert!(events[3].data["until"].is_string(), "{}", events[3].data);
    let sent = &events[4].data;
    assert_eq!(sent["origin"], "flow");
    assert_eq!(sent["content"]["text"], "Hello!");
    assert_eq!(sent["flow"], "welcome");
    let provider_id = sent["provider_message_id"].as_str().unwrap().to_string();

    // Delivered: told once, with the message's ids.
    app.post_meta(&meta_status(&provider_id, "delivered", None, ts + 1))
        .await;
    let events = until_logged(&app, "message.status", 1).await;
    let status = events
        .iter()
        .find(|e| e.kind.as_str() == "message.status")
        .unwrap();
    assert_eq!(status.data["status"], "delivered");
    assert_eq!(status.data["provider_message_id"], json!(provider_id));
    assert_eq!(status.data["message_id"], sent["message_id"]);

    // A person hands the conversation back: the handoff ends, by the API.
    let (code, body) = post(
        &app,
        &format!("/api/conversations/{conversation}/release"),
        json!({}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let events = until_logged(&app, "handoff.ended", 1).await;
    let ended = events
        .iter()
        .find(|e| e.kind.as_str() == "handoff.ended")
        .unwrap();
    assert_eq!(ended.data["by"], "api");
    let began = events
        .iter()
        .find(|e| e.kind.as_str() == "handoff.began")
        .unwrap();
    assert_eq!(ended.data["since"], began.data["since"]);

    // STOP: the message, the contact's change and its opt-out, once.
    app.post_meta(&meta_text(CUSTOMER, "wamid.stop", "STOP", ts + 2))
        .await;
    let events = until_logged(&app, "contact.opted_out", 1).await;
    let tail: Vec<&str> = kinds(&events)
        .into_iter()
        .skip_while(|k| *k != "handoff.ended")
        .filter(|k| !k.starts_with("message.s"))
        .collect();
    assert_eq!(
        tail,
        [
            "handoff.ended",
            "message.received",
            "contact.changed",
            "contact.opted_out"
        ]
    );
    let out = events
        .iter()
        .find(|e| e.kind.as_str() == "contact.opted_out")
        .unwrap();
    assert_eq!(out.data["via"], "keyword");
    assert_eq!(out.data["contact"]["phone"], format!("+{CUSTOMER}"));
    // Ids only grow, and no event carries a secret.
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    let all =
        serde_json::to_string(&events.iter().map(|e| &e.data).collect::<Vec<&Value>>()).unwrap();
    assert!(!all.contains("test-token") && !all.contains("test_app_secret"));
}

#[tokio::test]
async fn with_no_endpoint_nothing_is_written() {
    let app = spawn(false).await;
    assert!(!app.store.records_events());
    let ts = chrono::Utc::now().timestamp();
    app.post_meta(&meta_text(CUSTOMER, "wamid.hi", "hi", ts))
        .await;
    let sends = app.wait_meta_sends(2, Duration::from_secs(10)).await;
    let _ = sends;
    eventually(Duration::from_secs(10), "the handoff", || async {
        let page = app.store.conversations_page(None, None, 1).await.unwrap();
        page[0].conversation.state.handoff.is_some().then_some(())
    })
    .await;
    assert!(logged(&app).await.is_empty());
}

/// Contacts imported through the API and a broadcast to them: `contact.created` per new
/// contact (`via: import`), a `message.sent` per send with `origin: broadcast`, the
/// broadcast's progress, and its end once everyone is queued.
#[tokio::test]
async fn imports_and_broadcasts_are_told() {
    let mut extra = api_yaml(1000, 1000);
    extra.push_str(&endpoint_yaml());
    extra.push_str("broadcasts: { poll_interval: 50ms, page_size: 1 }\n");
    let app = spawn_with(Options {
        extra_yaml: extra,
        config_edits: vec![(
            "templates:\n",
            "templates:\n  - { id: 50, name: promo, language: en, status: approved, category: marketing, body: \"Hi {{1}}, 20% off today.\" }\n",
        )],
        ..Options::default()
    })
    .await;
    let r = app
        .http
        .post(format!("{}/api/contacts/import", app.addr))
        .bearer_auth(crate::api::KEY)
        .header("content-type", "text/csv")
        .body("phone,name\n+34600000001,Ana\n+34600000002,Bo\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (code, body) = post(
        &app,
        "/api/broadcasts",
        json!({
            "name": "spring", "template_name": "promo", "language": "en", "sender_id": 3,
            "variables": { "1": "friend" },
            "recipients": ["+34600000001", "+34600000002"],
        }),
    )
    .await;
    assert_eq!(code, 200, "{body:#}");
    let id = body["broadcast"]["id"].as_i64().unwrap();
    until_logged(&app, "broadcast.finished", 1).await;
    let events = until_logged(&app, "message.sent", 2).await;
    let created: Vec<&OutEvent> = events
        .iter()
        .filter(|e| e.kind.as_str() == "contact.created")
        .collect();
    assert_eq!(created.len(), 2, "{:#?}", kinds(&events));
    assert!(created.iter().all(|e| e.data["via"] == "import"));
    assert_eq!(created[0].data["contact"]["name"], "Ana");
    let progress: Vec<&OutEvent> = events
        .iter()
        .filter(|e| e.kind.as_str() == "broadcast.progress")
        .collect();
    assert!(!progress.is_empty(), "{:?}", kinds(&events));
    assert_eq!(progress[0].data["broadcast_id"], id);
    assert_eq!(progress[0].data["progress"]["recipients"], 2);
    let finished = events
        .iter()
        .find(|e| e.kind.as_str() == "broadcast.finished")
        .unwrap();
    assert_eq!(finished.data["broadcast_id"], id);
    assert_eq!(finished.data["name"], "spring");
    assert_eq!(
        (&finished.data["recipients"], &finished.data["queued"]),
        (&json!(2), &json!(2))
    );
    assert_eq!(finished.sender_id, Some(3));
    let sent: Vec<&OutEvent> = events
        .iter()
        .filter(|e| e.kind.as_str() == "message.sent")
        .collect();
    assert!(sent.iter().all(|e| e.data["origin"] == "broadcast"));
    assert_eq!(sent[0].data["content"]["type"], "template");
    assert_eq!(sent[0].data["content"]["template"]["name"], "promo");
    assert!(sent.iter().all(|e| e.conversation_id.is_some()));
}
