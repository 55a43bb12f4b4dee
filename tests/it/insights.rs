//! Flow insights end to end: synthetic traffic with a known drop-off per step, through the
//! real webhook path with a manual clock (timeouts fire as the clock moves), read back from
//! `GET /api/insights/flows/{flow}` (JSON and CSV) and `GET /api/insights/flows`: the funnel
//! equals the ground truth exactly, on SQLite and on PostgreSQL.

use crate::api::{api_yaml, KEY};
use crate::helpers::*;
use parley::domain::Clock;
use serde_json::{json, Value};
use std::time::Duration;

const SURVEY: &str = r#"id: survey
triggers: [{ keyword: [survey] }]
steps:
  - send: "Welcome"
  - ask: { text: "Your name?", expect: text, save_as: name, timeout: 1h }
  - ask: { text: "How many?", expect: number, save_as: n, retries: 0, timeout: 3h }
  - send: "Thanks {{ vars.name }}"
"#;

const MENU: &str = r#"id: menu
triggers: [{ keyword: [menu], interrupt: true }]
steps:
  - send: "Menu"
"#;

const PERIOD: &str = "since=2026-01-01&until=2026-01-02";

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.http
        .get(format!("{}{path}", app.addr))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
}

async fn report(app: &TestApp) -> Value {
    let r = get(app, &format!("/api/insights/flows/survey?{PERIOD}")).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The counts of step `key` in a flow report.
fn step<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == key)
        .unwrap_or_else(|| panic!("no step {key} in {report:#}"))
}

/// Waits until the report's step `key` has `what` = `n`.
async fn until(app: &TestApp, key: &str, what: &str, n: i64) {
    eventually(
        Duration::from_secs(30),
        &format!("{key} {what} = {n}"),
        || async {
            let r = report(app).await;
            (step(&r, key)[what] == json!(n)).then_some(())
        },
    )
    .await;
}

fn phone(i: usize) -> String {
    format!("1631555{:04}", 2000 + i)
}

async fn say(app: &TestApp, i: usize, text: &str, at: i64) {
    let wamid = format!("wamid.{i}.{}", uuid::Uuid::new_v4().simple());
    let r = app.post_meta(&meta_text(&phone(i), &wamid, text, at)).await;
    assert_eq!(r.status(), 200);
}

/// 100 customers start the survey. Step 2: 70 answer at once, 10 more half an hour later,
/// 10 leave for the menu, 10 never answer (timed out after 1 h). Step 3: of the 70, 50
/// answer, 10 answer with words (invalid, no retries), 10 never answer (timed out after
/// 3 h); the 10 late ones are still waiting when the report is read.
async fn known_funnel(database_url: Option<String>) {
    let app = spawn_with(Options {
        database_url,
        manual_clock: true,
        flows: vec![("survey.yaml", SURVEY), ("menu.yaml", MENU)],
        extra_yaml: api_yaml(1000, 1000),
        ..Default::default()
    })
    .await;
    let clock = app.clock.clone().unwrap();
    let t0 = clock.now().timestamp();
    for i in 0..100 {
        say(&app, i, "survey", t0).await;
    }
    until(&app, "step 2", "entered", 100).await;
    for i in 0..70 {
        say(&app, i, &format!("Customer {i}"), t0).await;
    }
    for i in 80..90 {
        say(&app, i, "menu", t0).await;
    }
    until(&app, "step 3", "entered", 70).await;
    for i in 0..50 {
        say(&app, i, &format!("{}", i + 1), t0).await;
    }
    for i in 50..60 {
        say(&app, i, "lots", t0).await;
    }
    until(&app, "step 4", "answered", 50).await;
    until(&app, "step 3", "invalid", 10).await;

    clock.advance(chrono::TimeDelta::minutes(30));
    for i in 70..80 {
        say(&app, i, &format!("Late {i}"), t0 + 1800).await;
    }
    until(&app, "step 3", "entered", 80).await;
    // 1 h: the 10 silent at step 2 time out; 3 h: the 10 silent at step 3 (not the late ones).
    clock.advance(chrono::TimeDelta::minutes(31));
    until(&app, "step 2", "timed_out", 10).await;
    clock.advance(chrono::TimeDelta::minutes(120));
    until(&app, "step 3", "timed_out", 10).await;
    // Anything else that could still happen has had its chance.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Statuses for the welcome messages: 30 delivered, 10 of them read.
    let conversations = app.store.conversations_page(None, None, 500).await.unwrap();
    let mut welcomes = Vec::new();
    for c in &conversations {
        for m in app
            .store
            .conversation_outbound(c.conversation.id, None, 20)
            .await
            .unwrap()
        {
            if format!("{:?}", m.message.content).contains("Welcome") {
                welcomes.push(m.provider_message_id.clone().expect("sent"));
            }
        }
    }
    assert_eq!(welcomes.len(), 100);
    for (k, wamid) in welcomes.iter().take(30).enumerate() {
        let status = if k < 10 { "read" } else { "delivered" };
        let r = app
            .post_meta(&meta_status(wamid, status, None, t0 + 60))
            .await;
        assert_eq!(r.status(), 200);
    }
    until(&app, "step 1", "read", 10).await;
    until(&app, "step 1", "delivered", 30).await;

    let r = report(&app).await;
    let welcome = step(&r, "step 1");
    assert_eq!(
        ["messages", "sent", "delivered", "read", "failed"].map(|k| welcome[k].as_i64().unwrap()),
        [100, 100, 30, 10, 0],
        "{welcome:#}"
    );
    assert_eq!(
        (
            welcome["delivery_rate"].as_f64(),
            welcome["read_rate"].as_f64()
        ),
        (Some(0.3), Some(0.1))
    );
    // The flow's messages in all: step 1's and the questions of steps 2 and 3.
    assert!(
        r["messages"]["messages"].as_i64().unwrap() >= 100 + 100 + 80,
        "{:#}",
        r["messages"]
    );
    let counts = |key: &str| {
        let s = step(&r, key);
        [
            "entered",
            "answered",
            "timed_out",
            "invalid",
            "dropped",
            "errored",
            "waiting",
        ]
        .map(|k| s[k].as_i64().unwrap())
    };
    assert_eq!(counts("step 1"), [100, 100, 0, 0, 0, 0, 0]);
    assert_eq!(counts("step 2"), [100, 80, 10, 0, 10, 0, 0]);
    assert_eq!(counts("step 3"), [80, 50, 10, 10, 0, 0, 10]);
    assert_eq!(counts("step 4"), [50, 50, 0, 0, 0, 0, 0]);
    assert_eq!(
        r["outcomes"],
        json!({ "started": 100, "finished": 50, "handed_off": 0, "moved": 0, "timed_out": 20,
                "invalid": 10, "dropped": 10, "errored": 0, "in_progress": 10 })
    );
    assert_eq!(r["steps"][1]["kind"], "ask");
    assert_eq!(r["former_steps"], json!([]));

    // The same as CSV, a line per step in the flow's order.
    let csv = get(
        &app,
        &format!("/api/insights/flows/survey?{PERIOD}&format=csv"),
    )
    .await;
    assert_eq!(csv.status(), 200);
    assert_eq!(
        csv.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "flow,step,place,kind,entered,answered,timed_out,invalid,dropped,errored,waiting,\
         messages,sent,delivered,read,failed,delivery_rate,read_rate,predicted,actual,\
         predicted_micros,actual_micros"
    );
    assert!(
        lines[1].starts_with(
            "survey,step 1,step 1 (line 4),send,100,100,0,0,0,0,0,100,100,30,10,0,0.3,0.1,"
        ),
        "{}",
        lines[1]
    );
    assert!(
        lines[3].starts_with("survey,step 3,step 3 (line 6),ask,80,50,10,10,0,0,10,"),
        "{}",
        lines[3]
    );
    assert_eq!(lines.len(), 5);

    // Every flow's outcomes.
    let all: Value = get(&app, &format!("/api/insights/flows?{PERIOD}"))
        .await
        .json()
        .await
        .unwrap();
    let menu = all["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["flow"] == "menu")
        .unwrap();
    assert_eq!(
        (menu["started"].as_i64(), menu["finished"].as_i64()),
        (Some(10), Some(10))
    );
    let text = get(&app, &format!("/api/insights/flows?{PERIOD}&format=csv"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("survey,true,100,50,0,0,20,10,10,0,10,")),
        "{text}"
    );

    // An earlier period saw nothing.
    let before: Value = get(
        &app,
        "/api/insights/flows/survey?since=2025-12-01&until=2025-12-31",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(step(&before, "step 1")["entered"], 0);
    app.shutdown().await;
}

#[tokio::test]
async fn the_funnel_equals_a_known_drop_off_per_step() {
    known_funnel(None).await;
}

#[tokio::test]
async fn the_funnel_equals_a_known_drop_off_per_step_on_postgres() {
    let Some(url) = crate::postgres::fresh_database().await else {
        return;
    };
    known_funnel(Some(url)).await;
}

#[tokio::test]
async fn insights_reads_refuse_bad_periods_and_unknown_flows() {
    let app = spawn_with(Options {
        flows: vec![("survey.yaml", SURVEY)],
        extra_yaml: api_yaml(1000, 1000),
        ..Default::default()
    })
    .await;
    let unauthorized = app
        .http
        .get(format!("{}/api/insights/flows", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    for (path, status, words) in [
        ("/api/insights/flows?since=soon", 422, "is not a time"),
        (
            "/api/insights/flows?since=2026-01-02&until=2026-01-01",
            422,
            "must be before",
        ),
        (
            "/api/insights/flows?since=2020-01-01&until=2026-01-01",
            422,
            "longer than 366 days",
        ),
        ("/api/insights/flows?format=xml", 422, "use json or csv"),
        ("/api/insights/flows/nope", 404, "no flow `nope`"),
    ] {
        let r = get(&app, path).await;
        assert_eq!(r.status(), status, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["success"], false, "{path}");
        assert!(
            body["error"].as_str().unwrap().contains(words),
            "{path}: {body}"
        );
    }
    let long = format!("/api/insights/flows/{}", "x".repeat(300));
    assert_eq!(get(&app, &long).await.status(), 422);
    // A loaded flow nobody ran yet: its steps, all zero.
    let r: Value = get(&app, "/api/insights/flows/survey")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["steps"].as_array().unwrap().len(), 4);
    assert_eq!(r["outcomes"]["started"], 0);
    app.shutdown().await;
}
