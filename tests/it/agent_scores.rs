//! Scored real conversations end to end (issue 59): conversations through an agent flow
//! with `score:` end, are drawn, and are scored in the background by a scripted judge, one
//! call per criterion; `GET /api/insights/scores` shows the mean score, each criterion's
//! pass rate and the worst transcript with the customer's phone number masked; a judge
//! out of budget scores nothing and the rows stay pending; both backends. The Insights
//! page shows the same report in a real browser (`tests/browser/scores.mjs`).

use crate::api::{api_yaml, KEY};
use crate::helpers::*;
use serde_json::Value;
use std::time::Duration;

const SUPPORT: &str = r#"id: support
triggers: [{ keyword: [help] }]
steps:
  - id: chat
    agent:
      model: assistant
      instructions: "You help with Acme orders."
      scope: "orders at Acme"
      tools:
        end: true
      if_window_closed: skip
      guardrails:
        mask_personal_data: true
      rubric:
        - never promises a refund
        - greets the customer
      score:
        judge: judge
        share: 100
"#;

const ASSISTANT: &str = r#"rules:
  - when: "(?i)bye"
    say: "Bye!"
    tool: end
  - say: "Hello! You will get a full refund, we call you back."
"#;

/// Fails "never promises a refund" when the transcript promises one; passes the rest.
const JUDGE: &str = r#"rules:
  - when: "(?is)full refund.*Criterion: never promises a refund"
    tool: verdict
    arguments: { pass: false, reason: "the assistant promised a full refund" }
  - tool: verdict
    arguments: { pass: true, reason: "nothing goes against it" }
"#;

/// The scripted assistant and judge, written in `dir`.
fn models(dir: &std::path::Path) -> String {
    std::fs::write(dir.join("assistant.yaml"), ASSISTANT).unwrap();
    std::fs::write(dir.join("judge.yaml"), JUDGE).unwrap();
    format!(
        "models:\n  - {{ name: assistant, kind: scripted, script: \"{}\" }}\n  - {{ name: judge, kind: scripted, script: \"{}\", price_input: 1.0, price_output: 1.0 }}\n",
        dir.join("assistant.yaml").display(),
        dir.join("judge.yaml").display()
    )
}

async fn app(database_url: Option<String>, flow: &'static str, dir: &std::path::Path) -> TestApp {
    spawn_with(Options {
        flows: vec![("support.yaml", flow)],
        extra_yaml: format!("{}{}", api_yaml(1000, 1000), models(dir)),
        database_url,
        ..Default::default()
    })
    .await
}

async fn say(app: &TestApp, from: &str, wamid: &str, text: &str) {
    let r = app
        .post_meta(&meta_text(from, wamid, text, now_unix()))
        .await;
    assert_eq!(r.status(), 200);
}

async fn scores(app: &TestApp) -> Value {
    let r = app
        .http
        .get(format!("{}/api/insights/scores?flow=support", app.addr))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Waits until the report shows `n` scored conversations.
async fn scored(app: &TestApp, n: i64) -> Value {
    let t0 = std::time::Instant::now();
    loop {
        let r = scores(app).await;
        if r["flows"][0]["scored"].as_i64() == Some(n) {
            return r;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "{r:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn conversation_scored_and_reported(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let app = app(database_url, SUPPORT, dir.path()).await;
    say(
        &app,
        "16315550101",
        "wamid.s1",
        "help, my number is 612345678",
    )
    .await;
    say(&app, "16315550101", "wamid.s2", "ok bye").await;
    let r = scored(&app, 1).await;
    let f = &r["flows"][0];
    assert_eq!(
        (f["flow"].as_str(), f["step"].as_str()),
        (Some("support"), Some("chat"))
    );
    assert_eq!(f["mean_score"], 0.5, "{r:#}");
    assert_eq!(f["criteria"][0]["criterion"], "never promises a refund");
    assert_eq!(f["criteria"][0]["pass_rate"], 0.0);
    assert_eq!(f["criteria"][1]["pass_rate"], 1.0);
    assert!(f["judge_cost"].as_f64() > Some(0.0), "{r:#}");
    let worst = &f["worst"][0];
    assert_eq!(worst["outcome"], "finished");
    assert_eq!(
        worst["verdicts"][0]["reason"],
        "the assistant promised a full refund"
    );
    let text = worst["transcript"].to_string();
    assert!(text.contains("my number is [number]"), "{text}");
    assert!(!text.contains("612345678"), "{text}");
    assert!(text.contains("full refund"), "{text}");
    // A bad period is refused with its reason.
    let bad = app
        .http
        .get(format!("{}/api/insights/scores?since=yesterday", app.addr))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let metrics = metrics_page(&app.http, &app.addr).await;
    assert!(
        metrics.contains("parley_agent_score{flow=\"support\"} 0.5"),
        "{metrics}"
    );
    assert!(
        // The process's metrics are shared by the tests that run in it.
        metrics.contains("parley_agent_scores_total{flow=\"support\",result=\"scored\"} "),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_finished_agent_conversation_is_scored_in_the_background() {
    conversation_scored_and_reported(None).await;
}

#[tokio::test]
async fn a_finished_agent_conversation_is_scored_on_postgres() {
    let Some(url) = crate::postgres::fresh_database().await else {
        return;
    };
    conversation_scored_and_reported(Some(url)).await;
}

#[tokio::test]
async fn a_judge_out_of_budget_leaves_conversations_pending() {
    static BUDGETED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let flow = BUDGETED.get_or_init(|| {
        SUPPORT.replace(
            "        share: 100\n",
            "        share: 100\n        budget: { tokens_per_day: 1 }\n",
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let app = app(None, flow.as_str(), dir.path()).await;
    // The first conversation is scored (nothing spent yet) and spends the day's budget.
    say(&app, "16315550102", "wamid.b1", "help").await;
    say(&app, "16315550102", "wamid.b2", "bye").await;
    scored(&app, 1).await;
    say(&app, "16315550103", "wamid.b3", "help").await;
    say(&app, "16315550103", "wamid.b4", "bye").await;
    let t0 = std::time::Instant::now();
    loop {
        let r = scores(&app).await;
        let f = &r["flows"][0];
        if f["not_scored"]["pending"] == 1 {
            assert_eq!(f["scored"], 1, "{r:#}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "{r:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t0 = std::time::Instant::now();
    while !metrics_page(&app.http, &app.addr)
        .await
        .contains("parley_agent_scores_total{flow=\"support\",result=\"skipped_budget\"} ")
    {
        assert!(t0.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(scores(&app).await["flows"][0]["scored"], 1);
}

/// Answers a refund question with a promise the judge fails, anything else plainly.
const SHOP_ASSISTANT: &str = r#"rules:
  - when: "(?i)bye"
    say: "Bye!"
    tool: end
  - when: "(?i)refund"
    say: "Hello! You will get a full refund, we call you back."
  - say: "Hello! Your order left our warehouse yesterday and arrives on Friday."
"#;

#[tokio::test]
async fn the_insights_page_shows_the_scores_in_a_real_browser() {
    use crate::sandbox_page::{browser_or_skip, screenshots_dir};
    if !browser_or_skip("skipping the browser scores test") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let extra = models(dir.path());
    std::fs::write(dir.path().join("assistant.yaml"), SHOP_ASSISTANT).unwrap();
    let app = spawn_with(Options {
        flows: vec![("support.yaml", SUPPORT)],
        extra_yaml: format!("{}{extra}", api_yaml(1000, 1000)),
        ..Default::default()
    })
    .await;
    // Three refund questions (one with a phone number) and two about an order.
    let questions = [
        "help, I want a refund, my number is 612345678",
        "help with my order please",
        "help: refund for a broken mug",
        "help, where is my parcel?",
        "help, can I get a refund?",
    ];
    for (i, text) in questions.iter().enumerate() {
        let from = format!("1631555020{i}");
        say(&app, &from, &format!("wamid.p{i}a"), text).await;
        say(&app, &from, &format!("wamid.p{i}b"), "thanks, bye").await;
    }
    let r = scored(&app, questions.len() as i64).await;
    assert_eq!(r["flows"][0]["mean_score"], 0.7, "{r:#}");
    let shot = screenshots_dir(true).join("insights-scores.png");
    let _ = std::fs::remove_file(&shot);
    let args = vec![app.addr.clone(), shot.display().to_string()];
    crate::browser::run_node("scores.mjs", args).await;
    assert!(shot.exists());
    app.shutdown().await;
}
