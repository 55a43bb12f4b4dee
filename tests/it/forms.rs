//! WhatsApp Flows (the `form` step) end to end: the interactive `flow` message at the Graph
//! API double, the submission as a signed `nfm_reply` webhook, its answers used by the next
//! step — also after a restart, on SQLite and PostgreSQL — the timeout branch, and
//! submissions no step waits for.

use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;

const BOOKING: &str = r#"id: booking
triggers:
  - keyword: [book]
  - { keyword: [again], interrupt: true }
steps:
  - form:
      flow_id: "1197715005513101"
      text: "Book a visit, {{ contact.name }}"
      cta: Book now
      screen: APPOINTMENT
      data: { customer_name: "{{ contact.name }}" }
      save_as: booking
      fields:
        - { name: date, type: date, required: true }
        - { name: people, type: number, required: true }
      timeout: 1h
      on_timeout: nudge
  - send: "See you on {{ vars.booking.date }}, {{ vars.booking.people }} of you"
  - end: {}
  - id: nudge
    send: "Still want to book?"
"#;

const ANA: &str = "16315551181";

/// The Twilio sender of the test config cannot send forms (`parley check` refuses them),
/// so these tests run with Meta and sandbox senders only.
fn meta_only(database_url: Option<String>) -> Options {
    with_flow(database_url, BOOKING)
}

fn with_flow(database_url: Option<String>, flow: &'static str) -> Options {
    Options {
        database_url,
        flows: vec![("booking.yaml", flow)],
        config_edits: vec![
            ("    channel: twilio\n", "    channel: sandbox\n"),
            ("    twilio: { account_sid", "    # twilio: { account_sid"),
        ],
        ..Default::default()
    }
}

/// A signed-able `nfm_reply` webhook: `response_json` is a JSON text carrying the token.
fn meta_form_reply(from: &str, wamid: &str, token: &str, fields: Value) -> Vec<u8> {
    let mut response = fields;
    response["flow_token"] = json!(token);
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
            "contacts": [{ "profile": { "name": "Sheena" }, "wa_id": from }],
            "messages": [{ "from": from, "id": wamid, "timestamp": now_unix().to_string(),
                "type": "interactive",
                "interactive": { "type": "nfm_reply", "nfm_reply": {
                    "name": "flow", "body": "Sent", "response_json": response.to_string() } } }]
        }}]}]
    }))
    .unwrap()
}

async fn sends_to(app: &TestApp, n: usize) -> Vec<Value> {
    eventually(
        Duration::from_secs(10),
        &format!("{n} sends to Ana"),
        || async {
            let s: Vec<Value> = app
                .meta_sends()
                .await
                .into_iter()
                .filter(|s| s["to"] == ANA)
                .collect();
            (s.len() >= n).then_some(s)
        },
    )
    .await
}

/// Ana writes `book`; returns the form message Meta received and its token.
async fn open_form(app: &TestApp) -> (Value, String) {
    let r = app
        .post_meta(&meta_text(ANA, "wamid.f.1", "book", now_unix()))
        .await;
    assert_eq!(r.status(), 200);
    let form = sends_to(app, 1).await.remove(0);
    let token = form["interactive"]["action"]["parameters"]["flow_token"]
        .as_str()
        .expect("a flow token")
        .to_string();
    (form, token)
}

#[tokio::test]
async fn a_form_is_sent_submitted_and_its_answers_used_by_the_next_step() {
    let app = spawn_with(meta_only(None)).await;
    let (form, token) = open_form(&app).await;
    assert_eq!(form["type"], "interactive");
    assert_eq!(form["interactive"]["type"], "flow");
    assert_eq!(form["interactive"]["body"]["text"], "Book a visit, Tester");
    let p = &form["interactive"]["action"]["parameters"];
    assert_eq!(form["interactive"]["action"]["name"], "flow");
    assert_eq!(p["flow_message_version"], "3");
    assert_eq!(p["flow_id"], "1197715005513101");
    assert_eq!(p["flow_cta"], "Book now");
    assert_eq!(p["flow_action"], "navigate");
    assert_eq!(
        p["flow_action_payload"],
        json!({"screen": "APPOINTMENT", "data": {"customer_name": "Tester"}})
    );
    assert!(token.starts_with("parley-form."), "{token}");

    let reply = meta_form_reply(
        ANA,
        "wamid.f.2",
        &token,
        json!({"date": "2027-01-15", "people": "2"}),
    );
    assert_eq!(app.post_meta(&reply).await.status(), 200);
    let sends = sends_to(&app, 2).await;
    assert_eq!(body_text(&sends[1]), "See you on 2027-01-15, 2 of you");
    // WhatsApp delivers the submission again: nothing happens twice.
    app.post_meta(&reply).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sends_to(&app, 2).await.len(), 2);
    app.shutdown().await;
}

async fn submitted_after_a_restart(database_url: Option<String>) {
    let app = spawn_with(meta_only(database_url)).await;
    let (_, token) = open_form(&app).await;
    let app = app.restart().await;
    let reply = meta_form_reply(
        ANA,
        "wamid.f.3",
        &token,
        json!({"date": "2027-02-01", "people": 5}),
    );
    assert_eq!(app.post_meta(&reply).await.status(), 200);
    let sends = sends_to(&app, 2).await;
    assert_eq!(body_text(&sends[1]), "See you on 2027-02-01, 5 of you");
    app.shutdown().await;
}

#[tokio::test]
async fn a_form_submitted_after_a_restart_completes_the_right_step() {
    submitted_after_a_restart(None).await;
}

#[tokio::test]
async fn a_form_submitted_after_a_restart_completes_the_right_step_on_postgres() {
    let Some(url) = crate::postgres::fresh_database().await else {
        return;
    };
    submitted_after_a_restart(Some(url)).await;
}

#[tokio::test]
async fn an_unsubmitted_form_times_out_to_its_branch_and_a_late_submission_is_ignored() {
    let quick: &'static str = BOOKING.replace("timeout: 1h", "timeout: 2s").leak();
    let app = spawn_with(with_flow(None, quick)).await;
    let (_, token) = open_form(&app).await;
    let sends = sends_to(&app, 2).await;
    assert_eq!(body_text(&sends[1]), "Still want to book?");
    let late = meta_form_reply(
        ANA,
        "wamid.f.4",
        &token,
        json!({"date": "2027-01-15", "people": 2}),
    );
    assert_eq!(app.post_meta(&late).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        sends_to(&app, 2).await.len(),
        2,
        "the late form started nothing"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_stale_token_changes_nothing_and_the_waiting_form_still_completes() {
    let app = spawn_with(meta_only(None)).await;
    let (_, first) = open_form(&app).await;
    // The customer starts over: a new form with a new token.
    app.post_meta(&meta_text(ANA, "wamid.f.5", "again", now_unix()))
        .await;
    let sends = sends_to(&app, 2).await;
    let second = sends[1]["interactive"]["action"]["parameters"]["flow_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(first, second);
    let stale = meta_form_reply(
        ANA,
        "wamid.f.6",
        &first,
        json!({"date": "2027-01-15", "people": 2}),
    );
    assert_eq!(app.post_meta(&stale).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sends_to(&app, 2).await.len(),
        2,
        "a stale form sends nothing"
    );
    let fresh = meta_form_reply(
        ANA,
        "wamid.f.7",
        &second,
        json!({"date": "2027-03-03", "people": 1}),
    );
    app.post_meta(&fresh).await;
    let sends = sends_to(&app, 3).await;
    assert_eq!(body_text(&sends[2]), "See you on 2027-03-03, 1 of you");
    let metrics = metrics_page(&app.http, &app.addr).await;
    let stale = metric_value(&metrics, "parley_form_replies_total{outcome=\"stale\"}");
    assert!(stale >= 1.0, "the stale form is counted: {stale}");
    app.shutdown().await;
}

/// The content of the bot's `n`-th message to `customer` in the sandbox chat.
async fn sandbox_reply(app: &TestApp, customer: &str, n: usize) -> Value {
    let path = format!(
        "/sandbox/api/contacts/{}/messages",
        customer.replace('+', "%2B")
    );
    eventually(
        Duration::from_secs(10),
        "the bot's sandbox reply",
        || async {
            let (_, body) = get_json(app, &path).await;
            let out: Vec<Value> = body["messages"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|m| m["direction"] == "out")
                .collect();
            out.get(n - 1).map(|m| m["content"].clone())
        },
    )
    .await
}

#[tokio::test]
async fn the_sandbox_shows_the_form_fields_and_takes_a_submission() {
    let app = spawn_with(meta_only(None)).await;
    let customer = "+34600000001";
    let (status, body) = post_json(
        &app,
        "/sandbox/api/messages",
        json!({ "from": customer, "name": "Ana", "text": "book" }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let form = sandbox_reply(&app, customer, 1).await;
    assert_eq!(form["kind"], "form", "{form:#}");
    assert_eq!(form["cta"], "Book now");
    assert_eq!(
        form["fields"],
        json!([
            { "name": "date", "label": null, "type": "date", "required": true },
            { "name": "people", "label": null, "type": "number", "required": true }
        ])
    );
    let token = form["token"].as_str().unwrap().to_string();
    let (status, body) = post_json(
        &app,
        "/sandbox/api/messages",
        json!({ "from": customer, "form": { "token": token, "response": { "date": "2027-04-04", "people": "3" } } }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let answer = sandbox_reply(&app, customer, 2).await;
    assert_eq!(answer["body"], "See you on 2027-04-04, 3 of you");
    let (status, body) = post_json(
        &app,
        "/sandbox/api/messages",
        json!({ "from": customer, "form": { "token": "x", "response": { "deep": [[[[[[[[[[1]]]]]]]]]] } } }),
    )
    .await;
    assert_eq!(status, 400, "{body:#}");
    assert!(
        body.to_string().contains("nests deeper than 8 levels"),
        "{body:#}"
    );
    app.shutdown().await;
}

const DELIVERY: &str = r#"id: delivery
triggers:
  - keyword: [deliver]
steps:
  - ask: { text: "Where should we deliver?", expect: address, save_as: address }
  - send: "Delivering to {{ vars.address.city }} {{ vars.address.in_pin_code }}"
"#;

#[tokio::test]
async fn an_address_question_is_answered_by_a_signed_address_form_webhook() {
    let app = spawn_with(with_flow(None, DELIVERY)).await;
    app.post_meta(&meta_text(ANA, "wamid.a.1", "deliver", now_unix()))
        .await;
    let ask = sends_to(&app, 1).await.remove(0);
    assert_eq!(ask["interactive"]["type"], "address_message");
    assert_eq!(
        ask["interactive"]["action"],
        json!({"name": "address_message", "parameters": {"country": "IN"}})
    );
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/meta/interactive_nfm_reply_address.json"
    ))
    .unwrap();
    let r = app.post_meta(fixture.as_bytes()).await;
    assert_eq!(r.status(), 200);
    let sends = sends_to(&app, 2).await;
    assert_eq!(body_text(&sends[1]), "Delivering to Mumbai 400063");
    app.shutdown().await;
}
