//! Experiments' insights end to end (issue 58): a simulated population through the real
//! webhook path and a manual clock. A flow splits its contacts into arms a and b, then asks
//! a question; each contact answers (finishes) with probability 0.5 in arm a and 0.6 in arm
//! b, decided by a seeded generator per contact, and the others time out as the clock
//! moves. `GET /api/insights/experiments` must count exactly what the test counted, and say
//! that b finishes about 10 points more often, beyond chance.

use crate::api::{api_yaml, KEY};
use crate::helpers::*;
use parley::domain::Clock;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const WELCOME: &str = r#"id: welcome
triggers: [{ keyword: [hello] }]
steps:
  - id: opening
    split:
      a: { weight: 50 }
      b: { weight: 50 }
  - ask: { text: "Shall we go on?", expect: text, save_as: ok, timeout: 1h }
"#;

const EXPERIMENT: &str = "welcome/opening";
const CONTACTS: usize = 2000;
const PERIOD: &str = "since=2026-01-01&until=2026-01-02";

fn phone(i: usize) -> String {
    format!("1631777{:04}", i)
}

/// A number in [0, 1) for contact `i`, the same every run (splitmix64 of the seed and `i`).
fn draw(i: usize) -> f64 {
    let mut z = 0x5eed_0058_u64.wrapping_add((i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

async fn say(app: &TestApp, i: usize, text: &str, at: i64) {
    let wamid = format!("wamid.x{i}.{}", uuid::Uuid::new_v4().simple());
    let r = app.post_meta(&meta_text(&phone(i), &wamid, text, at)).await;
    assert_eq!(r.status(), 200);
}

/// Everyone in `who` says `text`, 50 at a time.
async fn all_say(app: &TestApp, who: &[usize], text: &str, at: i64) {
    for chunk in who.chunks(50) {
        futures::future::join_all(chunk.iter().map(|&i| say(app, i, text, at))).await;
    }
}

async fn report(app: &TestApp) -> Value {
    let r = app
        .http
        .get(format!(
            "{}/api/insights/experiments?{PERIOD}&flow=welcome",
            app.addr
        ))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The figure `what` of each arm, by arm.
fn figures(r: &Value, what: &str) -> BTreeMap<String, i64> {
    let Some(x) = r["experiments"]
        .as_array()
        .and_then(|v| v.iter().find(|x| x["experiment"] == EXPERIMENT))
    else {
        return BTreeMap::new();
    };
    x["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["arm"].as_str().unwrap().to_string(),
                a[what].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn until(app: &TestApp, what: &str, want: &BTreeMap<String, i64>) {
    eventually(
        Duration::from_secs(120),
        &format!("{what} = {want:?}"),
        || async { (figures(&report(app).await, what) == *want).then_some(()) },
    )
    .await;
}

/// Each contact's arm, as the conversation recorded it.
async fn arms_of_contacts(app: &TestApp) -> Vec<String> {
    let mut arm = vec![String::new(); CONTACTS];
    let mut before = None;
    loop {
        let page = app
            .store
            .conversations_page(None, before, 500)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.conversation.id);
        for c in &page {
            let Some(i) = c
                .contact
                .key
                .strip_prefix("+1631777")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&i| i < CONTACTS)
            else {
                continue;
            };
            let choice = &c.conversation.state.experiments[EXPERIMENT];
            arm[i] = choice.arm.clone();
        }
    }
    assert!(
        arm.iter().all(|a| a == "a" || a == "b"),
        "every contact has an arm"
    );
    arm
}

async fn two_arms_compared(database_url: Option<String>) {
    let app = spawn_with(Options {
        database_url,
        manual_clock: true,
        flows: vec![("welcome.yaml", WELCOME)],
        extra_yaml: api_yaml(100_000, 100_000),
        ..Default::default()
    })
    .await;
    let clock = app.clock.clone().unwrap();
    let t0 = clock.now().timestamp();
    let everyone: Vec<usize> = (0..CONTACTS).collect();
    all_say(&app, &everyone, "hello", t0).await;

    let arms = arms_of_contacts_when_all_started(&app).await;
    let mut truth: BTreeMap<&str, [i64; 3]> = BTreeMap::new(); // started, finished, timed out
    let mut answering = Vec::new();
    for (i, arm) in arms.iter().enumerate() {
        let p = if arm == "a" { 0.5 } else { 0.6 };
        let t = truth.entry(arm.as_str()).or_default();
        t[0] += 1;
        if draw(i) < p {
            t[1] += 1;
            answering.push(i);
        } else {
            t[2] += 1;
        }
    }
    let of = |k: usize| -> BTreeMap<String, i64> {
        truth.iter().map(|(a, t)| (a.to_string(), t[k])).collect()
    };
    // Ten minutes later, the answers; an hour after the question, the others time out.
    clock.advance(chrono::TimeDelta::minutes(10));
    all_say(&app, &answering, "yes", t0 + 600).await;
    until(&app, "finished", &of(1)).await;
    clock.advance(chrono::TimeDelta::minutes(51));
    until(&app, "timed_out", &of(2)).await;

    let r = report(&app).await;
    assert_eq!(figures(&r, "started"), of(0));
    let zeros: BTreeMap<String, i64> = truth.keys().map(|a| (a.to_string(), 0)).collect();
    assert_eq!(figures(&r, "dropped"), zeros);
    assert_eq!(figures(&r, "in_progress"), zeros);
    let x = &r["experiments"][0];
    assert_eq!(
        (x["kind"].as_str(), x["loaded"].as_bool()),
        (Some("split"), Some(true))
    );
    let (a, b) = (&x["arms"][0], &x["arms"][1]);
    assert_eq!(
        (a["arm"].as_str(), b["arm"].as_str()),
        (Some("a"), Some("b"))
    );
    // The question's step: entered by all of the arm, answered by those who finished.
    let ask = b["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "step 2")
        .unwrap_or_else(|| panic!("{b:#}"));
    assert_eq!(
        (
            ask["entered"].as_i64(),
            ask["answered"].as_i64(),
            ask["timed_out"].as_i64()
        ),
        (
            Some(truth["b"][0]),
            Some(truth["b"][1]),
            Some(truth["b"][2])
        )
    );
    // The split is the arm's first step: entered and left by all of the arm.
    for arm in [a, b] {
        let opening = &arm["steps"][0];
        let n = truth[arm["arm"].as_str().unwrap()][0];
        assert_eq!(
            (
                opening["step"].as_str(),
                opening["entered"].as_i64(),
                opening["answered"].as_i64()
            ),
            (Some("opening"), Some(n), Some(n))
        );
    }
    // Each contact got one message (the question), at one price (service replies here are
    // free; the browser test's sandbox sender prices them): the arms' costs are in
    // proportion to their contacts, and each is told per finished conversation.
    let cost = |arm: &Value| arm["cost_micros"].as_i64().unwrap();
    assert_eq!(cost(a) * truth["b"][0], cost(b) * truth["a"][0]);
    assert!(b["cost_per_finished"].is_string(), "{b:#}");
    // Everyone who finished took 10 minutes.
    assert_eq!(b["mean_seconds_to_finish"].as_f64(), Some(600.0));

    // The comparison: the observed difference, within the sampling error of the true 10.
    let rate = |t: [i64; 3]| t[1] as f64 / t[0] as f64;
    let (pa, pb) = (rate(truth["a"]), rate(truth["b"]));
    let c = &b["comparison"];
    let diff = c["difference_points"].as_f64().unwrap();
    assert!((diff - (pb - pa) * 100.0).abs() < 1e-9, "{c:#}");
    let se = (pa * (1.0 - pa) / truth["a"][0] as f64 + pb * (1.0 - pb) / truth["b"][0] as f64)
        .sqrt()
        * 100.0;
    assert!((diff - 10.0).abs() < 3.0 * se, "diff {diff} vs 10 ± 3·{se}");
    let ci = c["ci95_points"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() < diff && diff < ci[1].as_f64().unwrap());
    assert!(c["p_value"].as_f64().unwrap() < 0.05, "{c:#}");
    assert_eq!(c["significant"], true);
    let verdict = c["verdict"].as_str().unwrap();
    assert!(
        verdict.starts_with(&format!("b finishes {diff:.1} points more often than a")),
        "{verdict}"
    );
    app.shutdown().await;
}

/// Waits until every contact's run entered its arm, then reads the arms.
async fn arms_of_contacts_when_all_started(app: &TestApp) -> Vec<String> {
    eventually(Duration::from_secs(120), "all started", || async {
        let started: i64 = figures(&report(app).await, "started").values().sum();
        (started == CONTACTS as i64).then_some(())
    })
    .await;
    arms_of_contacts(app).await
}

#[tokio::test]
async fn arms_compared_equal_the_ground_truth() {
    two_arms_compared(None).await;
}

#[tokio::test]
async fn arms_compared_equal_the_ground_truth_on_postgres() {
    let Some(url) = crate::postgres::fresh_database().await else {
        return;
    };
    two_arms_compared(Some(url)).await;
}

#[tokio::test]
async fn experiments_reads_refuse_bad_input() {
    let app = spawn_with(Options {
        flows: vec![("welcome.yaml", WELCOME)],
        extra_yaml: api_yaml(1000, 1000),
        ..Default::default()
    })
    .await;
    let get = |path: String| {
        app.http
            .get(format!("{}{path}", app.addr))
            .bearer_auth(KEY)
            .send()
    };
    let long = "x".repeat(300);
    for (path, words) in [
        (
            "/api/insights/experiments?since=soon".to_string(),
            "is not a time",
        ),
        (
            "/api/insights/experiments?since=2020-01-01&until=2026-01-01".to_string(),
            "longer than 366 days",
        ),
        (
            format!("/api/insights/experiments?flow={long}"),
            "a flow id is",
        ),
    ] {
        let r = get(path.clone()).await.unwrap();
        assert_eq!(r.status(), 422, "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains(words),
            "{path}: {body}"
        );
    }
    let r: Value = get("/api/insights/experiments".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["experiments"], serde_json::json!([]));
    let unauthorized = app
        .http
        .get(format!("{}/api/insights/experiments", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    app.shutdown().await;
}

/// The Insights page's Experiments section in headless Chromium (`experiments.mjs`): 300
/// customers through the split on the sandbox sender, arm a answering with p 0.45 and b
/// with p 0.65; the page must show what the API answers. The screenshot is the README's
/// `insights-experiments.png` with `PARLEY_UPDATE_SCREENSHOTS=1`.
#[tokio::test]
async fn the_insights_page_compares_the_arms_in_a_real_browser() {
    use crate::sandbox_page::{browser_or_skip, screenshots_dir};
    if !browser_or_skip("skipping the browser experiments test") {
        return;
    }
    let app = spawn_with(Options {
        flows: vec![("welcome.yaml", WELCOME)],
        ..Default::default()
    })
    .await;
    let say = |i: usize, text: &'static str| {
        let app = &app;
        async move {
            let (status, body) = post_json(
                app,
                "/sandbox/api/messages",
                serde_json::json!({ "from": format!("+1631888{i:04}"), "text": text, "sender_id": 3 }),
            )
            .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    for i in 0..300 {
        say(i, "hello").await;
    }
    let mut arms = BTreeMap::new();
    let mut before = None;
    loop {
        let page = app
            .store
            .conversations_page(None, before, 500)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.conversation.id);
        for c in &page {
            if let Some(i) = c.contact.key.strip_prefix("+1631888") {
                let arm = c.conversation.state.experiments[EXPERIMENT].arm.clone();
                arms.insert(i.parse::<usize>().unwrap(), arm);
            }
        }
    }
    assert_eq!(arms.len(), 300);
    for (&i, arm) in &arms {
        let p = if arm == "a" { 0.45 } else { 0.65 };
        if draw(i) < p {
            say(i, "yes").await;
        }
    }
    let shot = screenshots_dir(true).join("insights-experiments.png");
    let _ = std::fs::remove_file(&shot);
    let args = vec![app.addr.clone(), shot.display().to_string()];
    crate::browser::run_node("experiments.mjs", args).await;
    assert!(shot.exists());
    app.shutdown().await;
}
