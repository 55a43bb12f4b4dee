//! Webhook events beside a customer's message, through `POST /webhooks/meta`: a removed
//! reaction starts no flow, `request_welcome` starts the welcome flow, history starts
//! nothing and opens no window, an echo from the WhatsApp Business app pauses the bot like a
//! handoff (and is released like one), and a customer's call reopens a closed window so a
//! free-form reply goes out, while the business's own call does not.

use crate::api::{api_yaml, KEY};
use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;

const CUSTOMER: &str = "16315551181";
const FALLBACK: &str =
    "id: sorry\ntriggers:\n  - fallback: true\nsteps:\n  - send: { text: \"Sorry, I didn't understand\" }\n";
const WELCOME: &str =
    "id: welcome\ntriggers:\n  - welcome: true\nsteps:\n  - send: { text: \"Welcome to the shop!\" }\n";
const NEW_CONTACT: &str =
    "id: hello\ntriggers:\n  - new_contact: true\nsteps:\n  - send: { text: \"Nice to meet you\" }\n";
const ORDER_FLOW: &str = "id: order\ntriggers:\n  - keyword: [order]\nsteps:\n  - ask: { text: \"What size?\", save_as: size }\n  - send: { text: \"Size {{ vars.size }} it is\" }\n";
const CALL_FLOW: &str = "id: missed\ntriggers:\n  - call: terminate\nsteps:\n  - send: { text: \"Thanks for calling ({{ vars.call.duration_seconds }} s, {{ vars.call.status }})\" }\n";

/// A Meta change of `field` for the test sender, as Meta sends it.
fn change(field: &str, value: Value) -> Vec<u8> {
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

fn message(wamid: &str, at: i64, kind: &str, body: Value) -> Vec<u8> {
    let mut m = json!({ "from": CUSTOMER, "id": wamid, "timestamp": at.to_string(), "type": kind });
    if !body.is_null() {
        m[kind] = body;
    }
    change(
        "messages",
        json!({ "contacts": [{ "profile": { "name": "Sheena" }, "wa_id": CUSTOMER }], "messages": [m] }),
    )
}

fn echo(wamid: &str, at: i64, text: &str) -> Vec<u8> {
    change(
        "smb_message_echoes",
        json!({ "message_echoes": [{ "from": "15550783881", "to": CUSTOMER, "id": wamid,
            "timestamp": at.to_string(), "type": "text", "text": { "body": text } }] }),
    )
}

fn call(event: &str, direction: &str, at: i64) -> Vec<u8> {
    let (from, to) = match direction {
        "USER_INITIATED" => (CUSTOMER, "15550783881"),
        _ => ("15550783881", CUSTOMER),
    };
    let mut c = json!({ "id": format!("wacid.{direction}.{at}"), "from": from, "to": to, "event": event,
        "timestamp": at.to_string(), "direction": direction });
    if event == "terminate" {
        c["status"] = json!("COMPLETED");
        c["duration"] = json!(42);
    }
    change(
        "calls",
        json!({ "contacts": [{ "profile": { "name": "Sheena" }, "wa_id": CUSTOMER }], "calls": [c] }),
    )
}

async fn post_ok(app: &TestApp, body: &[u8]) {
    let response = app.post_meta(body).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

async fn last_inbound_at(app: &TestApp) -> Option<chrono::DateTime<chrono::Utc>> {
    app.store
        .find_conversation(1, &format!("+{CUSTOMER}"))
        .await
        .unwrap()
        .expect("the conversation exists")
        .last_inbound_at
}

fn texts(sends: &[Value]) -> Vec<String> {
    sends.iter().map(|s| body_text(s).to_string()).collect()
}

/// No more sends arrive than `n` within a moment (the worker had time to act).
async fn settles_at(app: &TestApp, n: usize) -> Vec<Value> {
    tokio::time::sleep(Duration::from_millis(400)).await;
    let sends = app.meta_sends().await;
    assert_eq!(sends.len(), n, "{:#?}", texts(&sends));
    sends
}

#[tokio::test]
async fn a_removed_reaction_starts_no_flow_and_never_the_fallback() {
    let app = spawn_with(Options {
        flows: vec![
            ("echo.yaml", ECHO_FLOW),
            ("sorry.yaml", FALLBACK),
            ("hello.yaml", NEW_CONTACT),
        ],
        ..Default::default()
    })
    .await;
    let now = now_unix();
    let target = "wamid.HBgLMTYzMTU1NTExODEVAgARGBI4QkEwNDE2NUJBQUFEMUUxQ0QA";
    post_ok(
        &app,
        &message(
            "wamid.R1",
            now,
            "reaction",
            json!({ "message_id": target, "emoji": "👍" }),
        ),
    )
    .await;
    post_ok(
        &app,
        &message(
            "wamid.R2",
            now,
            "reaction",
            json!({ "message_id": target, "emoji": "" }),
        ),
    )
    .await;
    post_ok(
        &app,
        &message("wamid.R3", now, "reaction", json!({ "message_id": target })),
    )
    .await;
    // Handled in order: once this reply is out, the reactions were handled before it.
    post_ok(&app, &meta_text(CUSTOMER, "wamid.R4", "hi there", now)).await;
    app.wait_meta_sends(1, Duration::from_secs(10)).await;
    let sends = settles_at(&app, 1).await;
    assert_eq!(texts(&sends), ["echo: hi there"]);
    // A reaction still opens the window (the customer acted), and is stored.
    assert!(last_inbound_at(&app).await.is_some());
}

#[tokio::test]
async fn a_reaction_does_not_answer_a_question() {
    let app = spawn_with(Options {
        flows: vec![("order.yaml", ORDER_FLOW), ("sorry.yaml", FALLBACK)],
        ..Default::default()
    })
    .await;
    let now = now_unix();
    post_ok(&app, &meta_text(CUSTOMER, "wamid.Q1", "order", now)).await;
    app.wait_meta_sends(1, Duration::from_secs(10)).await;
    post_ok(
        &app,
        &message(
            "wamid.Q2",
            now,
            "reaction",
            json!({ "message_id": "wamid.x", "emoji": "❤️" }),
        ),
    )
    .await;
    post_ok(&app, &meta_text(CUSTOMER, "wamid.Q3", "large", now)).await;
    let sends = app.wait_meta_sends(2, Duration::from_secs(10)).await;
    assert_eq!(texts(&sends), ["What size?", "Size large it is"]);
    settles_at(&app, 2).await;
}

#[tokio::test]
async fn request_welcome_starts_the_welcome_flow_not_the_fallback() {
    let app = spawn_with(Options {
        flows: vec![
            ("welcome.yaml", WELCOME),
            ("sorry.yaml", FALLBACK),
            ("hello.yaml", NEW_CONTACT),
        ],
        ..Default::default()
    })
    .await;
    post_ok(
        &app,
        &message("wamid.W1", now_unix(), "request_welcome", Value::Null),
    )
    .await;
    let sends = app.wait_meta_sends(1, Duration::from_secs(10)).await;
    assert_eq!(texts(&sends), ["Welcome to the shop!"]);
    settles_at(&app, 1).await;
}

#[tokio::test]
async fn history_is_stored_but_starts_nothing_and_opens_no_window() {
    let app = spawn_with(Options {
        flows: vec![
            ("echo.yaml", ECHO_FLOW),
            ("sorry.yaml", FALLBACK),
            ("hello.yaml", NEW_CONTACT),
        ],
        ..Default::default()
    })
    .await;
    let now = now_unix();
    let history = change(
        "history",
        json!({ "history": [{ "metadata": { "phase": 0, "chunk_order": 1, "progress": 100 },
            "threads": [{ "id": CUSTOMER, "messages": [
                { "from": CUSTOMER, "id": "wamid.H1", "timestamp": (now - 60).to_string(), "type": "text",
                  "text": { "body": "hi, do you ship to Canada?" }, "history_context": { "status": "READ" } },
                { "from": "15550783881", "to": CUSTOMER, "id": "wamid.H2", "timestamp": (now - 30).to_string(),
                  "type": "text", "text": { "body": "Yes" }, "history_context": { "status": "DELIVERED" } }
            ] }] }] }),
    );
    post_ok(&app, &history).await;
    assert_eq!(last_inbound_at(&app).await, None, "history opens no window");
    settles_at(&app, 0).await;
    // Both are in the conversation's messages, marked as history.
    let conversation = app
        .store
        .find_conversation(1, &format!("+{CUSTOMER}"))
        .await
        .unwrap()
        .unwrap();
    let stored = app
        .store
        .conversation_inbound(conversation.id, None, 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    // The first real message is still the contact's first: history did not use it up.
    post_ok(&app, &meta_text(CUSTOMER, "wamid.H3", "hello again", now)).await;
    let sends = app.wait_meta_sends(1, Duration::from_secs(10)).await;
    assert_eq!(texts(&sends), ["Nice to meet you"]);
}

#[tokio::test]
async fn an_echo_during_a_flow_pauses_the_bot_until_released_and_never_opens_the_window() {
    let app = spawn_with(Options {
        flows: vec![
            ("order.yaml", ORDER_FLOW),
            ("echo.yaml", ECHO_FLOW),
            ("sorry.yaml", FALLBACK),
        ],
        extra_yaml: api_yaml(100, 100),
        ..Default::default()
    })
    .await;
    let now = now_unix();
    post_ok(&app, &meta_text(CUSTOMER, "wamid.E1", "order", now - 100)).await;
    app.wait_meta_sends(1, Duration::from_secs(10)).await;
    let opened = last_inbound_at(&app).await;
    // A person answers from the WhatsApp Business app on the same number.
    post_ok(
        &app,
        &echo("wamid.E2", now, "Hi Sheena, Maria here, which colour?"),
    )
    .await;
    assert_eq!(
        last_inbound_at(&app).await,
        opened,
        "an echo moves no window"
    );
    // The customer's answer is for Maria now: the bot neither takes it nor anything else.
    post_ok(&app, &meta_text(CUSTOMER, "wamid.E3", "large", now)).await;
    post_ok(&app, &meta_text(CUSTOMER, "wamid.E4", "hi bot?", now)).await;
    settles_at(&app, 1).await;
    let conversation = app
        .store
        .find_conversation(1, &format!("+{CUSTOMER}"))
        .await
        .unwrap()
        .unwrap();
    let handoff = conversation
        .state
        .handoff
        .clone()
        .expect("paused like a handoff");
    assert_eq!(handoff.until, None, "until released, by default");
    // What Maria wrote is among the business's messages to Sheena, never sent again.
    let outbound = app
        .store
        .conversation_outbound(conversation.id, None, 10)
        .await
        .unwrap();
    let echo = outbound
        .iter()
        .find(|o| o.provider_message_id.as_deref() == Some("wamid.E2"))
        .expect("the echo is recorded as an outbound message");
    assert_eq!(echo.origin, parley::store::Origin::Echo);
    assert_eq!(echo.status, parley::domain::DeliveryStatus::Sent);
    assert!(
        conversation.state.run.is_none(),
        "the run in progress ended"
    );
    // Released like any handoff.
    let response = app
        .http
        .post(format!(
            "{}/api/conversations/{}/release",
            app.addr, conversation.id
        ))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
    eventually(
        Duration::from_secs(10),
        "the release is handled",
        || async {
            let c = app
                .store
                .conversation(conversation.id)
                .await
                .unwrap()
                .unwrap();
            c.state.handoff.is_none().then_some(())
        },
    )
    .await;
    post_ok(&app, &meta_text(CUSTOMER, "wamid.E5", "hi again", now)).await;
    let sends = app.wait_meta_sends(2, Duration::from_secs(10)).await;
    assert_eq!(texts(&sends)[1], "echo: hi again");
}

#[tokio::test]
async fn echo_pause_can_be_off_or_timed_per_sender() {
    let app = spawn_with(Options {
        flows: vec![("echo.yaml", ECHO_FLOW)],
        config_edits: vec![(
            "    messages_per_second: 1000\n    meta:",
            "    messages_per_second: 1000\n    echo_pause: 10m\n    meta:",
        )],
        ..Default::default()
    })
    .await;
    let now = now_unix();
    post_ok(&app, &echo("wamid.P1", now, "Hello from the shop")).await;
    let handoff = eventually(
        Duration::from_secs(10),
        "the echo pauses the bot",
        || async {
            let c = app
                .store
                .find_conversation(1, &format!("+{CUSTOMER}"))
                .await
                .unwrap()?;
            c.state.handoff
        },
    )
    .await;
    let until = handoff.until.expect("a timed pause");
    let minutes = (until - handoff.since).num_minutes();
    assert_eq!(minutes, 10);
    assert_eq!(last_inbound_at(&app).await, None, "an echo opens no window");
}

#[tokio::test]
async fn a_customer_call_reopens_a_closed_window_so_a_free_form_reply_goes_out() {
    let app = spawn_with(Options {
        flows: vec![("missed.yaml", CALL_FLOW), ("sorry.yaml", FALLBACK)],
        ..Default::default()
    })
    .await;
    let now = now_unix();
    // Two days ago the customer wrote: the window is closed, the fallback's reply fails.
    post_ok(
        &app,
        &meta_text(CUSTOMER, "wamid.C1", "hello?", now - 48 * 3600),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        app.meta_sends().await.is_empty(),
        "no free-form outside the window"
    );
    // The business calls them: that opens nothing and starts no flow.
    post_ok(&app, &call("connect", "BUSINESS_INITIATED", now - 20)).await;
    post_ok(&app, &call("terminate", "BUSINESS_INITIATED", now - 10)).await;
    let closed = last_inbound_at(&app).await.unwrap();
    assert!(closed.timestamp() == now - 48 * 3600, "{closed}");
    settles_at(&app, 0).await;
    // The customer calls: the window opens at the call, the call's flow replies free-form.
    post_ok(&app, &call("connect", "USER_INITIATED", now - 5)).await;
    post_ok(&app, &call("terminate", "USER_INITIATED", now)).await;
    let sends = app.wait_meta_sends(1, Duration::from_secs(10)).await;
    assert_eq!(texts(&sends), ["Thanks for calling (42 s, completed)"]);
    assert_eq!(sends[0]["type"], "text");
    assert_eq!(last_inbound_at(&app).await.unwrap().timestamp(), now);
    settles_at(&app, 1).await;
}

#[tokio::test]
async fn dropped_events_are_counted_by_kind() {
    let app = spawn_app().await;
    let now = now_unix();
    post_ok(
        &app,
        &message("wamid.D1", now, "hologram", json!({ "x": 1 })),
    )
    .await;
    let sync = change(
        "smb_app_state_sync",
        json!({ "state_sync": [{ "type": "contact", "contact": { "full_name": "Sheena", "phone_number": CUSTOMER }, "action": "add" }] }),
    );
    post_ok(&app, &sync).await;
    // A system message of a type Parley does not act on, and errors Meta reports about a
    // change itself: counted (and the errors logged), not silently ignored.
    post_ok(
        &app,
        &message(
            "wamid.D2",
            now,
            "system",
            json!({ "type": "identity_changed", "body": "x" }),
        ),
    )
    .await;
    post_ok(
        &app,
        &change(
            "messages",
            json!({ "errors": [{ "code": 131000, "title": "Something went wrong" }] }),
        ),
    )
    .await;
    let page = metrics_page(&app.http, &app.addr).await;
    for (field, kind) in [
        ("messages", "hologram"),
        ("smb_app_state_sync", "contact"),
        ("messages", "system"),
        ("messages", "errors"),
    ] {
        let found = page.lines().any(|l| {
            l.starts_with("parley_webhook_events_dropped_total{")
                && l.contains("provider=\"meta\"")
                && l.contains(&format!("field=\"{field}\""))
                && l.contains(&format!("type=\"{kind}\""))
                && !l.ends_with(" 0")
        });
        assert!(found, "no dropped count for {field}/{kind}:\n{page}");
    }
}
