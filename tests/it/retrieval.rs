//! Issue 59, what the agent could not answer: a scripted set of questions to the example
//! support agent (its knowledge files, its scripted `assistant` model: no network) through
//! the sandbox; the off-topic questions, and only those, are listed by
//! `GET /api/insights/unanswered` per flow with how often they were asked, phone numbers
//! masked when the step masks personal data, and by the Insights page in a real browser
//! (`tests/browser/unanswered.mjs`).

use crate::helpers::*;
use serde_json::{json, Value};
use std::path::Path;

const FLOW: &str = include_str!("../../flows/support_agent.yaml");
const SHIPPING: &str = include_str!("../../knowledge/shipping.md");
const RETURNS: &str = include_str!("../../knowledge/returns.md");

async fn support_app(flow: &'static str) -> TestApp {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/assistant.yaml");
    spawn_with(Options {
        flows: vec![("support_agent.yaml", flow)],
        files: vec![
            ("knowledge/shipping.md", SHIPPING),
            ("knowledge/returns.md", RETURNS),
        ],
        extra_yaml: format!(
            "models:\n  - {{ name: assistant, kind: scripted, script: \"{}\" }}\n{}",
            rules.display(),
            crate::api::api_yaml(100, 100)
        ),
        ..Default::default()
    })
    .await
}

/// `customer` writes `text` in the sandbox; the agent answers before the call returns.
async fn ask(app: &TestApp, customer: &str, text: &str) {
    let (status, body) = post_json(
        app,
        "/sandbox/api/messages",
        json!({ "from": customer, "text": text }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
}

async fn unanswered(app: &TestApp, query: &str) -> (u16, Value) {
    let r = app
        .http
        .get(format!("{}/api/insights/unanswered{query}", app.addr))
        .bearer_auth(crate::api::KEY)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// (question, count) of `flow` in a report.
fn listed(report: &Value, flow: &str) -> Vec<(String, i64)> {
    report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["flow"] == flow)
        .flat_map(|f| f["questions"].as_array().unwrap().iter())
        .map(|q| {
            (
                q["question"].as_str().unwrap().to_string(),
                q["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The scripted questions: two customers, on-topic questions and off-topic ones (one asked
/// by both, in other case and punctuation), greetings and thanks that ask nothing.
async fn scripted_questions(app: &TestApp) {
    for (customer, texts) in [
        (
            "+34600000031",
            &[
                "question: how long does shipping take?",
                "How do I return an item?",
                "What are your opening hours?",
                "Can I pay with PayPal? Call me on +34 600 123 456",
                "When will I get my refund?",
            ][..],
        ),
        (
            "+34600000032",
            &[
                "question: is delivery free?",
                "what are your OPENING hours",
                "Is the blue jacket waterproof?",
                "hello",
                "Where can I track my order?",
            ][..],
        ),
    ] {
        for text in texts {
            ask(app, customer, text).await;
        }
    }
}

#[tokio::test]
async fn off_topic_questions_and_only_those_are_listed_with_counts() {
    let app = support_app(FLOW).await;
    scripted_questions(&app).await;
    let (status, report) = unanswered(&app, "").await;
    assert_eq!(status, 200, "{report:#}");
    assert_eq!(report["success"], true);
    assert_eq!(
        listed(&report, "support_agent"),
        vec![
            ("What are your opening hours?".to_string(), 2),
            ("Is the blue jacket waterproof?".to_string(), 1),
            (
                "Can I pay with PayPal? Call me on +34 600 123 456".to_string(),
                1
            ),
        ],
        "{report:#}"
    );
    let first = &report["flows"][0]["questions"][0];
    assert_eq!(first["step"], "chat");
    assert_eq!(first["best_score"], 0.0);
    assert!(first["last_seen"].as_str().unwrap().ends_with('Z'));

    // One flow, a limit, a period with nothing, and bad parameters named.
    let (_, one) = unanswered(&app, "?flow=support_agent&limit=1").await;
    assert_eq!(listed(&one, "support_agent").len(), 1);
    let (_, none) = unanswered(&app, "?since=2020-01-01&until=2020-01-02").await;
    assert_eq!(none["flows"], json!([]));
    let (status, bad) = unanswered(&app, "?limit=0").await;
    assert_eq!(status, 422, "{bad:#}");
    assert!(bad.to_string().contains("between 1 and 1000"), "{bad:#}");
    // Without the key: refused. The page's read answers the same on this machine.
    let r = app
        .http
        .get(format!("{}/api/insights/unanswered", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (status, page) = get_json(&app, "/sandbox/api/insights/unanswered").await;
    assert_eq!(status, 200);
    assert_eq!(page["flows"], report["flows"]);
    app.shutdown().await;
}

#[tokio::test]
async fn masked_personal_data_never_reaches_the_list() {
    let flow: &'static str = Box::leak(
        FLOW.replace(
            "allowed_domains: [acme.example]",
            "allowed_domains: [acme.example]\n        mask_personal_data: true",
        )
        .into_boxed_str(),
    );
    assert!(flow.contains("mask_personal_data: true"));
    let app = support_app(flow).await;
    scripted_questions(&app).await;
    let (_, report) = unanswered(&app, "?flow=support_agent").await;
    let questions = listed(&report, "support_agent");
    assert!(
        questions.contains(&("Can I pay with PayPal? Call me on [number]".to_string(), 1)),
        "{report:#}"
    );
    assert!(!report.to_string().contains("600 123 456"), "{report:#}");
    app.shutdown().await;
}

#[tokio::test]
async fn the_insights_page_lists_the_unanswered_questions_in_a_real_browser() {
    use crate::sandbox_page::{browser_or_skip, screenshots_dir};
    if !browser_or_skip("skipping the browser unanswered test") {
        return;
    }
    let app = support_app(FLOW).await;
    scripted_questions(&app).await;
    let (_, report) = unanswered(&app, "?flow=support_agent").await;
    assert_eq!(listed(&report, "support_agent").len(), 3, "{report:#}");
    let shot = screenshots_dir(true).join("insights-unanswered.png");
    let _ = std::fs::remove_file(&shot);
    let args = vec![app.addr.clone(), shot.display().to_string()];
    crate::browser::run_node("unanswered.mjs", args).await;
    assert!(shot.exists());
    app.shutdown().await;
}
