//! A handoff to a person in the sandbox: the conversation shows where
//! it began (until when the bot stays silent) and ended, the sandbox releases it like
//! `POST /api/conversations/{id}/release` does, and a new customer is a number that has
//! never written.

use crate::helpers::*;
use serde_json::{json, Value};

const CUSTOMER: &str = "+34600000001";
const WELCOME: &str = include_str!("../../flows/welcome.yaml");
const HANDOFF: &str = include_str!("../../flows/human_handoff.yaml");
const LEAD: &str = include_str!("../../flows/lead_capture.yaml");
const ORDER: &str = include_str!("../../flows/order_status.yaml");

use crate::helpers::{get_json as get, post_json as post};

async fn say(app: &TestApp, text: &str) -> Vec<String> {
    let (status, body) = post(
        app,
        "/sandbox/api/messages",
        json!({ "from": CUSTOMER, "text": text }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    body["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["summary"].as_str().unwrap().to_string())
        .collect()
}

/// The `system` lines of the customer's chat.
async fn system_lines(app: &TestApp) -> (Vec<Value>, Value) {
    let (_, chat) = get(app, &format!("/sandbox/api/contacts/{CUSTOMER}/messages")).await;
    let lines = chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "system")
        .cloned()
        .collect();
    (lines, chat)
}

fn time(v: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_handoff_shows_in_the_chat_and_releasing_it_gives_the_bot_back() {
    let app = spawn_with(Options {
        flows: vec![
            ("welcome.yaml", WELCOME),
            ("human_handoff.yaml", HANDOFF),
            ("lead_capture.yaml", LEAD),
            ("order_status.yaml", ORDER),
        ],
        ..Default::default()
    })
    .await;
    let release = format!("/sandbox/api/contacts/{CUSTOMER}/release");
    let (status, body) = post(&app, &release, json!({})).await;
    assert_eq!(status, 404, "nobody wrote yet: {body}");

    assert!(say(&app, "hi").await[0].contains("What can I do for you?"));
    let (status, body) = post(&app, &release, json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "not_in_handoff");

    let replies = say(&app, "agent").await;
    assert!(replies[0].starts_with("Got it — a person"), "{replies:?}");
    let (lines, chat) = system_lines(&app).await;
    assert_eq!(lines.len(), 1, "{chat:#}");
    let began = &lines[0];
    assert_eq!(began["kind"], "handoff");
    assert_eq!(began["change"], "began");
    assert_eq!(began["current"], true);
    assert_eq!(began["flow"], "human_handoff");
    assert_eq!(
        time(&began["until"]) - time(&began["since"]),
        chrono::Duration::hours(4)
    );
    assert_eq!(chat["handoff"]["flow"], "human_handoff");
    // The line comes after the bot's message that announced the handoff.
    let messages = chat["messages"].as_array().unwrap();
    assert_eq!(messages.last().unwrap()["direction"], "system", "{chat:#}");
    assert!(messages[messages.len() - 2]["summary"]
        .as_str()
        .unwrap()
        .starts_with("Got it"));

    assert_eq!(
        say(&app, "hi").await,
        Vec::<String>::new(),
        "the bot stays silent"
    );

    let (status, body) = post(&app, &release, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["released"], true);
    let (lines, chat) = system_lines(&app).await;
    assert_eq!(chat["handoff"], Value::Null);
    assert_eq!(lines.len(), 2, "{chat:#}");
    assert_eq!(lines[0]["change"], "began");
    assert_eq!(lines[0]["current"], false);
    assert_eq!(lines[1]["change"], "released");
    assert_eq!(lines[1]["by"], "sandbox");

    assert!(say(&app, "hi").await[0].contains("What can I do for you?"));
    let (status, _) = post(&app, &release, json!({})).await;
    assert_eq!(status, 409, "nothing left to release");
    app.shutdown().await;
}

#[tokio::test]
async fn a_new_customer_is_a_number_that_never_wrote() {
    let app = spawn_app().await;
    let (status, first) = post(&app, "/sandbox/api/customers", json!({})).await;
    assert_eq!(status, 200, "{first}");
    let phone = first["phone"].as_str().unwrap().to_string();
    assert!(phone.starts_with("+346") && phone.len() == 12, "{phone}");
    assert_eq!(first["sender_id"], 3);
    let (status, _) = get(&app, &format!("/sandbox/api/contacts/{phone}")).await;
    assert_eq!(status, 404, "{phone} has not written");
    let (_, chat) = get(&app, &format!("/sandbox/api/contacts/{phone}/messages")).await;
    assert_eq!(chat["messages"], json!([]));
    let (status, body) = post(
        &app,
        "/sandbox/api/messages",
        json!({ "from": phone, "text": "hi" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, second) = post(&app, "/sandbox/api/customers", json!({})).await;
    assert_ne!(second["phone"], first["phone"]);
    let (status, body) = post(&app, "/sandbox/api/customers?sender_id=1", json!({})).await;
    assert_eq!(status, 400, "sender 1 is not a sandbox sender: {body}");
    app.shutdown().await;
}
