//! Meta's conversation routing end to end (issue 57), against a Graph double that answers
//! the thread-control and routing-roles calls: a standby copy is stored and never answered;
//! a thread taken by another app and passed back; a handoff that passes the thread to the
//! escalation app and takes it back; a send refused because another app owns the thread;
//! a thread idle for 24 hours routed to Parley again.

use crate::api::{api_yaml, call, post, CUSTOMER};
use crate::helpers::{
    eventually, meta_text, spawn_with, Options, TestApp, ECHO_FLOW, PHONE_NUMBER_ID,
};
use parley::domain::{OwnerReason, ThreadOwner};
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

const ESCALATION_APP: &str = "1234567890";
/// Sender 1 with routing: Parley's app id, the escalation app a handoff passes to.
const ROUTING: &str = "      routing: { app_id: \"263902037430900\", escalation_app: \"1234567890\", take_back: true }\n";
const HANDOFF_FLOW: &str = "id: human\ntriggers:\n  - keyword: [agent]\n    interrupt: true\nsteps:\n  - handoff:\n      timeout: 4h\n      message: \"A person will answer.\"\n";
const WAIT: Duration = Duration::from_secs(10);

async fn spawn(manual_clock: bool) -> TestApp {
    let app = spawn_with(Options {
        manual_clock,
        extra_yaml: api_yaml(1000, 1000),
        flows: vec![("echo.yaml", ECHO_FLOW), ("human.yaml", HANDOFF_FLOW)],
        config_edits: vec![(
            "      verify_token: verify-me\n",
            Box::leak(format!("      verify_token: verify-me\n{ROUTING}").into_boxed_str()),
        )],
        ..Options::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/v26\.0/\d+/thread_control$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"messaging_product": "whatsapp", "success": true})),
        )
        .mount(&app.meta)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/v26\.0/\d+/routing_roles$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"data": [{"roles": ["PRIMARY", "ESCALATION_PARTNER"], "is_standby": true}]}),
        ))
        .mount(&app.meta)
        .await;
    app
}

fn now(app: &TestApp) -> i64 {
    app.clock
        .as_ref()
        .map_or_else(chrono::Utc::now, parley::domain::Clock::now)
        .timestamp()
}

fn change(field: &str, value: Value) -> Vec<u8> {
    let mut v = json!({
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "15550783880", "phone_number_id": PHONE_NUMBER_ID },
    });
    v.as_object_mut()
        .unwrap()
        .extend(value.as_object().unwrap().clone());
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": field, "value": v }] }]
    }))
    .unwrap()
}

fn standby_text(wamid: &str, text: &str, ts: i64) -> Vec<u8> {
    change(
        "standby",
        json!({
            "contacts": [{ "profile": { "name": "Tester" }, "wa_id": CUSTOMER }],
            "messages": [{ "from": CUSTOMER, "id": wamid, "timestamp": ts.to_string(), "type": "text", "text": { "body": text } }]
        }),
    )
}

fn standby_echo(wamid: &str, text: &str, ts: i64) -> Vec<u8> {
    change(
        "standby",
        json!({ "message_echoes": [{ "from": "15550783880", "to": CUSTOMER, "id": wamid, "timestamp": ts.to_string(), "type": "text", "text": { "body": text } }] }),
    )
}

fn handover(kind: &str, ts: i64) -> Vec<u8> {
    let (previous, new) = match kind {
        "control_passed" => ("escalation_partner", "primary"),
        _ => ("primary", "escalation_partner"),
    };
    change(
        "messaging_handovers",
        json!({
            "type": kind, "timestamp": ts.to_string(), "from": CUSTOMER,
            kind: { "previous_owner_role": previous, "new_owner_role": new, "metadata": "test" }
        }),
    )
}

async fn post_ok(app: &TestApp, body: &[u8]) {
    let r = app.post_meta(body).await;
    assert_eq!(r.status(), 200);
}

async fn conversation(app: &TestApp) -> i64 {
    eventually(WAIT, "the conversation", || async {
        let page = app.store.conversations_page(None, None, 1).await.ok()?;
        page.first().map(|c| c.conversation.id)
    })
    .await
}

/// Waits until the conversation's events are all processed (no work left).
async fn settled(app: &TestApp, id: i64) {
    eventually(WAIT, "the conversation's events processed", || async {
        let w = app.store.load_work(id, 64).await.ok()?;
        w.events.is_empty().then_some(())
    })
    .await;
}

async fn messages(app: &TestApp, id: i64) -> Vec<Value> {
    let (status, body) = call(
        app,
        "GET",
        &format!("/api/conversations/{id}/messages"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["messages"].as_array().cloned().unwrap_or_default()
}

async fn owner(app: &TestApp, id: i64) -> Option<(ThreadOwner, OwnerReason)> {
    app.store
        .thread_state(id)
        .await
        .unwrap()
        .map(|s| (s.owner, s.reason))
}

async fn thread_calls(app: &TestApp) -> Vec<Value> {
    app.meta
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().ends_with("/thread_control"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn a_standby_message_is_stored_as_context_and_never_answered() {
    let app = spawn(false).await;
    let ts = now(&app);
    // "hi" would start the echo flow: as a standby copy it must not.
    post_ok(&app, &standby_text("wamid.sb1", "hi from standby", ts)).await;
    post_ok(
        &app,
        &standby_echo("wamid.sb2", "The other app answers.", ts),
    )
    .await;
    let id = conversation(&app).await;
    settled(&app, id).await;
    let list = messages(&app, id).await;
    let inbound = list
        .iter()
        .find(|m| m["provider_message_id"] == "wamid.sb1")
        .expect("the standby message is in the history");
    assert_eq!(inbound["type"], "standby");
    assert_eq!(inbound["text"], "hi from standby");
    let echo = list
        .iter()
        .find(|m| m["direction"] == "outbound" && m["provider_message_id"] == "wamid.sb2")
        .expect("the other app's reply joins the history as outbound");
    assert_eq!(echo["text"], "The other app answers.");
    // The customer's standby message opened the window.
    let (_, list) = call(&app, "GET", "/api/conversations", None).await;
    assert_eq!(
        list["conversations"][0]["window"]["is_open"], true,
        "{list}"
    );
    // A message on the normal path is answered; the standby one never was.
    post_ok(&app, &meta_text(CUSTOMER, "wamid.n1", "hi again", ts)).await;
    app.wait_meta_sends(1, WAIT).await;
    settled(&app, id).await;
    let sends = app.meta_sends().await;
    assert_eq!(sends.len(), 1, "{sends:#?}");
    assert_eq!(sends[0]["text"]["body"], "echo: hi again");
}

#[tokio::test]
async fn a_thread_taken_by_another_app_and_passed_back_is_parleys_again() {
    let app = spawn(false).await;
    let ts = now(&app);
    post_ok(&app, &meta_text(CUSTOMER, "wamid.1", "hello", ts)).await;
    let id = conversation(&app).await;
    post_ok(&app, &handover("control_taken", ts + 1)).await;
    settled(&app, id).await;
    assert_eq!(
        owner(&app, id).await,
        Some((
            ThreadOwner::App {
                app: "escalation_partner".into()
            },
            OwnerReason::ControlTaken
        ))
    );
    post_ok(&app, &handover("control_passed", ts + 2)).await;
    settled(&app, id).await;
    assert_eq!(
        owner(&app, id).await,
        Some((ThreadOwner::Parley, OwnerReason::ControlPassed))
    );
    post_ok(&app, &meta_text(CUSTOMER, "wamid.2", "hi back", ts + 3)).await;
    let sends = app.wait_meta_sends(1, WAIT).await;
    assert_eq!(sends[0]["text"]["body"], "echo: hi back");
    // A notification Meta delivers twice is one handover.
    post_ok(&app, &handover("control_passed", ts + 2)).await;
    settled(&app, id).await;
    let handovers = messages(&app, id)
        .await
        .into_iter()
        .filter(|m| m["type"] == "handover")
        .count();
    assert_eq!(handovers, 2);
}

#[tokio::test]
async fn a_handoff_passes_the_thread_to_the_escalation_app_and_takes_it_back() {
    let app = spawn(false).await;
    let ts = now(&app);
    post_ok(&app, &meta_text(CUSTOMER, "wamid.1", "agent please", ts)).await;
    let id = conversation(&app).await;
    let calls = eventually(WAIT, "the pass", || async {
        let calls = thread_calls(&app).await;
        (!calls.is_empty()).then_some(calls)
    })
    .await;
    assert_eq!(calls[0]["action"], "pass");
    assert_eq!(calls[0]["to"], CUSTOMER);
    assert_eq!(calls[0]["messaging_product"], "whatsapp");
    // The handoff's message went first, to the customer.
    let sends = app.wait_meta_sends(1, WAIT).await;
    assert_eq!(sends[0]["text"]["body"], "A person will answer.");
    assert_eq!(
        owner(&app, id).await,
        Some((
            ThreadOwner::App {
                app: ESCALATION_APP.into()
            },
            OwnerReason::Pass
        ))
    );
    let list = messages(&app, id).await;
    let pass = list
        .iter()
        .find(|m| m["type"] == "thread_control")
        .expect("the pass is in the history");
    let done = eventually(WAIT, "the pass recorded", || async {
        let list = messages(&app, id).await;
        list.into_iter()
            .find(|m| m["type"] == "thread_control" && m["status"] != "queued")
    })
    .await;
    assert_eq!(done["status"], "accepted", "{done}");
    assert!(
        done["provider_message_id"]
            .as_str()
            .unwrap()
            .starts_with("thread_control:pass:"),
        "{done}"
    );
    assert_eq!(pass["content"]["action"], "pass");
    // A thread-control call is no message: nothing in the cost ledger.
    let pass_id = done["id"].as_i64().expect("the pass's id");
    assert_eq!(app.store.cost_entry(pass_id).await.unwrap(), None);

    let (status, body) = post(&app, &format!("/api/conversations/{id}/release"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    let calls = eventually(WAIT, "the take", || async {
        let calls = thread_calls(&app).await;
        (calls.len() >= 2).then_some(calls)
    })
    .await;
    assert_eq!(calls[1]["action"], "take");
    settled(&app, id).await;
    assert_eq!(
        owner(&app, id).await,
        Some((ThreadOwner::Parley, OwnerReason::Take))
    );
    post_ok(&app, &meta_text(CUSTOMER, "wamid.2", "hi bot", ts + 5)).await;
    let sends = app.wait_meta_sends(2, WAIT).await;
    assert_eq!(sends[1]["text"]["body"], "echo: hi bot");
}

#[tokio::test]
async fn a_send_in_a_thread_another_app_owns_is_refused_and_recorded() {
    let app = spawn(false).await;
    let ts = now(&app);
    post_ok(&app, &meta_text(CUSTOMER, "wamid.1", "hello", ts)).await;
    let id = conversation(&app).await;
    post_ok(&app, &handover("control_taken", ts + 1)).await;
    settled(&app, id).await;
    let (status, body) = post(
        &app,
        &format!("/api/conversations/{id}/messages"),
        json!({ "type": "text", "text": "Are you still there?" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let refused = eventually(WAIT, "the send recorded as refused", || async {
        messages(&app, id).await.into_iter().find(|m| {
            m["direction"] == "outbound"
                && m["status"] != "queued"
                && m["text"] == "Are you still there?"
        })
    })
    .await;
    assert_eq!(refused["status"], "skipped", "{refused}");
    let why = refused["error_title"].as_str().unwrap_or_default();
    assert!(why.starts_with("thread_not_owned:"), "{why}");
    assert!(why.contains("escalation_partner"), "{why}");
    assert!(app.meta_sends().await.is_empty(), "nothing reached Meta");
}

#[tokio::test]
async fn a_thread_idle_for_24_hours_is_routed_to_parley_again() {
    let app = spawn(true).await;
    let clock = app.clock.clone().unwrap();
    let ts = now(&app);
    post_ok(&app, &meta_text(CUSTOMER, "wamid.1", "hello", ts)).await;
    let id = conversation(&app).await;
    post_ok(&app, &handover("control_taken", ts)).await;
    settled(&app, id).await;
    let state = app.store.thread_state(id).await.unwrap().unwrap();
    assert!(!state.parley_may_send(None, parley::domain::Clock::now(&clock)));
    clock.advance(chrono::Duration::hours(25));
    let later = parley::domain::Clock::now(&clock);
    assert_eq!(
        state.owner_at(None, later),
        ThreadOwner::Idle,
        "no message for a day: idle"
    );
    // Meta routes the customer's next message by entry point; this one reached Parley.
    post_ok(
        &app,
        &meta_text(CUSTOMER, "wamid.2", "hi after a day", later.timestamp()),
    )
    .await;
    let sends = app.wait_meta_sends(1, WAIT).await;
    assert_eq!(sends[0]["text"]["body"], "echo: hi after a day");
    assert_eq!(
        owner(&app, id).await,
        Some((ThreadOwner::Parley, OwnerReason::Routed))
    );
}

#[tokio::test]
async fn the_health_check_readyz_and_metrics_show_the_numbers_routing_roles() {
    let app = spawn(false).await;
    let (status, body) = post(&app, "/api/senders/1/health", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let roles = &body["checks"]["routing_roles"];
    assert_eq!(roles["ok"], true, "{body}");
    assert_eq!(roles["roles"], json!(["primary", "escalation_partner"]));
    assert_eq!(roles["may_take"], true);
    // A sender without `meta.routing` has no such check.
    let (_, twilio) = post(&app, "/api/senders/2/health", json!({})).await;
    assert!(twilio["checks"].get("routing_roles").is_none(), "{twilio}");

    let ts = now(&app);
    post_ok(&app, &meta_text(CUSTOMER, "wamid.1", "hello", ts)).await;
    let id = conversation(&app).await;
    post_ok(&app, &handover("control_taken", ts + 1)).await;
    settled(&app, id).await;
    let (status, ready) = call(&app, "GET", "/readyz", None).await;
    assert_eq!(status, 200, "{ready}");
    let r = &ready["routing"][0];
    assert_eq!(r["sender_id"], 1, "{ready}");
    assert_eq!(r["escalation_app"], ESCALATION_APP);
    assert_eq!(r["may_take"], true);
    assert_eq!(r["is_standby"], true);
    assert_eq!(r["threads"], json!({"app": 1}), "{ready}");
    assert_eq!(
        ready["routing"].as_array().unwrap().len(),
        1,
        "only senders with routing"
    );

    let page = crate::helpers::metrics_page(&app.http, &app.addr).await;
    let held = |role: &str| {
        page.lines().any(|l| {
            l.starts_with("parley_thread_routing_role{")
                && l.contains(&format!("role=\"{role}\""))
                && l.contains("sender=\"1\"")
                && l.ends_with(" 1")
        })
    };
    assert!(
        held("primary") && held("escalation") && held("standby"),
        "{page}"
    );
    assert!(
        page.contains("parley_thread_handovers_total{kind=\"control_taken\"}"),
        "{page}"
    );
}
