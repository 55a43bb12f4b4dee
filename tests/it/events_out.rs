//! Events out, the delivery side (issue 57), end to end: a real receiver (killed and
//! restarted at will, healthy, failing or hanging) gets each event signed the Standard
//! Webhooks way, verified by an independent implementation (PyPI's `standardwebhooks`);
//! retries follow the schedule with jitter, then park; replay through the API and the CLI;
//! filters by kind and sender; a hanging endpoint never slows replies; 10,000 events across
//! 200 conversations through a receiver killed and restarted arrive all, in order per
//! conversation; the daemon killed by SIGKILL while events flow loses none.

use crate::api::{api_yaml, call};
use crate::helpers::{eventually, meta_text, spawn_with, Options, TestApp};
use axum::body::Body;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use parley::domain::{NewOutEvent, OutEventKind};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// The Standard Webhooks spec's example secret (24 bytes).
const OLD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Bytes 1 to 32.
const NEW_SECRET: &str = "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
/// A secret Parley was never given.
const OTHER_SECRET: &str = "whsec_ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICA=";

/// Endpoints on 127.0.0.1 need the same permission as `http` steps.
const PRIVATE: (&str, &str) = (
    "flows: { dir:",
    "flows: { allow_private_networks: true, dir:",
);

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Got {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
}

impl Got {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Ok,
    Status(u16),
    /// 200 after this long.
    Slow(Duration),
    /// Never.
    Hang,
}

#[derive(Clone)]
struct Shared {
    got: Arc<Mutex<Vec<Got>>>,
    mode: Arc<Mutex<Mode>>,
}

/// A webhook receiver on 127.0.0.1: it records each request, then answers as its mode
/// says. Killed, its listener and every open connection go at once; restarted, it listens
/// on the same port again.
pub struct Receiver {
    port: u16,
    shared: Shared,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Shared {
            got: Arc::default(),
            mode: Arc::new(Mutex::new(Mode::Ok)),
        };
        let task = Some(tokio::spawn(serve(listener, shared.clone())));
        Self { port, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    pub fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    pub fn got(&self) -> Vec<Got> {
        self.shared.got.lock().unwrap().clone()
    }

    pub fn kill(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    pub async fn restart(&mut self) {
        self.kill();
        let start = Instant::now();
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) if start.elapsed() < Duration::from_secs(10) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("the receiver cannot listen again on {}: {e}", self.port),
            }
        };
        self.task = Some(tokio::spawn(serve(listener, self.shared.clone())));
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn serve(listener: tokio::net::TcpListener, shared: Shared) {
    // Dropped with this task (killed): every connection goes with it.
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| answer(req, shared.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn answer(req: Request<Incoming>, shared: Shared) -> Result<Response<Body>, Infallible> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let body = axum::body::to_bytes(Body::new(req.into_body()), 1 << 20)
        .await
        .unwrap_or_default();
    let mode = *shared.mode.lock().unwrap();
    shared.got.lock().unwrap().push(Got {
        id,
        timestamp,
        signature,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let status = match mode {
        Mode::Ok => 200,
        Mode::Status(s) => s,
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            200
        }
        Mode::Hang => std::future::pending().await,
    };
    Ok(Response::builder()
        .status(status)
        .body(Body::from("ok"))
        .unwrap())
}

/// An `events:` section with one endpoint per `(name, url, extra keys)`.
pub fn events_yaml(endpoints: &[(&str, &str, &str)], extra: &str) -> String {
    let mut y = String::from("events:\n  poll_interval: 50ms\n");
    y.push_str(extra);
    y.push_str("  endpoints:\n");
    for (name, url, keys) in endpoints {
        y.push_str(&format!(
            "    - {{ name: {name}, url: \"{url}\", secrets: [\"{NEW_SECRET}\"]{keys} }}\n"
        ));
    }
    y
}

/// The app with `events`; the cursors of `endpoints` made before the test records any
/// event (a new endpoint hears of events recorded from when its cursor is made).
async fn spawn(events: String, manual_clock: bool, endpoints: &[&str]) -> TestApp {
    let app = spawn_with(Options {
        extra_yaml: format!("{}{events}", api_yaml(1000, 1000)),
        config_edits: vec![PRIVATE],
        manual_clock,
        ..Options::default()
    })
    .await;
    for e in endpoints {
        app.store.event_cursor(e).await.unwrap();
    }
    app
}

fn event(kind: OutEventKind, conversation: i64, sender: i64, n: i64) -> NewOutEvent {
    NewOutEvent {
        kind,
        at: chrono::Utc::now(),
        conversation_id: Some(conversation),
        sender_id: Some(sender),
        data: json!({ "n": n, "conversation": conversation }),
    }
}

/// Waits until the receiver got at least `n` requests.
async fn received(r: &Receiver, n: usize, within: Duration) -> Vec<Got> {
    eventually(within, &format!("{n} deliveries"), || async {
        let got = r.got();
        (got.len() >= n).then_some(got)
    })
    .await
}

async fn log(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, v) = call(app, "GET", &format!("/api/events/deliveries?{query}"), None).await;
    assert_eq!(status, 200, "{v}");
    v["deliveries"].as_array().unwrap().clone()
}

// --- The independent verifier -------------------------------------------------------------

/// The Python of a virtualenv with PyPI's `standardwebhooks` (`.ci/run` makes it; made
/// here when missing and the machine can), or `None`.
fn verifier_python() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PARLEY_TEST_STANDARDWEBHOOKS_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/standardwebhooks-venv");
    let python = venv.join("bin/python");
    let works = |p: &PathBuf| {
        std::process::Command::new(p)
            .args(["-c", "import standardwebhooks"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works(&python) {
        return Some(python);
    }
    static MADE: Mutex<()> = Mutex::new(());
    let _one = MADE.lock().unwrap();
    if works(&python) {
        return Some(python);
    }
    let ok = std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && std::process::Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg("standardwebhooks==1.1.0")
            .status()
            .is_ok_and(|s| s.success());
    (ok && works(&python)).then_some(python)
}

const VERIFY_PY: &str = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
secret = sys.argv[1]
for line in sys.stdin:
    d = json.loads(line)
    try:
        Webhook(secret).verify(d["body"], {"webhook-id": d["id"], "webhook-timestamp": d["timestamp"], "webhook-signature": d["signature"]})
        print("ok")
    except Exception as e:
        print("refused: %s" % e)
"#;

/// Each delivery's verdict from `standardwebhooks` with `secret`: "ok" or why refused;
/// `None` (the test says it was skipped) when the library cannot be had.
fn verify(deliveries: &[Got], secret: &str) -> Option<Vec<String>> {
    let Some(python) = verifier_python() else {
        assert!(
            std::env::var("PARLEY_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
            "PyPI's standardwebhooks is needed (python3 -m venv, pip)"
        );
        eprintln!("SKIPPED: the Standard Webhooks signature check by PyPI's standardwebhooks (no python3 venv/pip here)");
        return None;
    };
    let input: String = deliveries
        .iter()
        .map(|d| {
            json!({ "id": d.id, "timestamp": d.timestamp, "signature": d.signature, "body": d.body })
                .to_string()
                + "\n"
        })
        .collect();
    let mut child = std::process::Command::new(python)
        .args(["-c", VERIFY_PY, secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

// --- Tests ----------------------------------------------------------------------------------

#[tokio::test]
async fn deliveries_are_signed_with_every_secret_and_verified_by_the_standard_library() {
    let receiver = Receiver::start().await;
    let events = format!(
        "{}    - {{ name: crm, url: \"{}\", secrets: [\"{OLD_SECRET}\", \"{NEW_SECRET}\"] }}\n",
        events_yaml(&[], ""),
        receiver.url()
    );
    let app = spawn(events, false, &["crm", "all", "received", "twilio"]).await;
    let ts = chrono::Utc::now().timestamp();
    app.post_meta(&meta_text("16315551181", "wamid.sig.1", "hi there", ts))
        .await;
    app.wait_meta_sends(1, Duration::from_secs(10)).await;
    // message.received, contact.created, flow.started… and message.sent once accepted.
    let got = eventually(
        Duration::from_secs(15),
        "message.sent delivered",
        || async {
            let got = receiver.got();
            got.iter()
                .any(|g| g.json()["type"] == "message.sent")
                .then_some(got)
        },
    )
    .await;
    for g in &got {
        assert!(g.id.starts_with("evt_"), "{g:?}");
        let ts: i64 = g.timestamp.parse().unwrap();
        assert!((ts - chrono::Utc::now().timestamp()).abs() < 60);
        assert_eq!(
            g.signature.split(' ').count(),
            2,
            "one signature per secret"
        );
        let payload = g.json();
        assert!(payload["type"].is_string() && payload["timestamp"].is_string());
        assert!(payload["data"].is_object());
    }
    let received = got
        .iter()
        .find(|g| g.json()["type"] == "message.received")
        .unwrap();
    assert_eq!(
        received.json()["data"]["provider_message_id"],
        "wamid.sig.1",
        "{}",
        received.body
    );
    // Rotation: a receiver that knows only the new secret, or only the old one, verifies
    // every delivery; one that knows neither refuses each.
    if let Some(with_new) = verify(&got, NEW_SECRET) {
        assert!(with_new.iter().all(|v| v == "ok"), "{with_new:?}");
        let with_old = verify(&got, OLD_SECRET).unwrap();
        assert!(with_old.iter().all(|v| v == "ok"), "{with_old:?}");
        let with_other = verify(&got, OTHER_SECRET).unwrap();
        assert!(
            with_other.iter().all(|v| v.starts_with("refused")),
            "{with_other:?}"
        );
        assert_eq!(with_other.len(), got.len());
    }
}

#[tokio::test]
async fn failures_retry_on_the_schedule_with_jitter_then_park_and_replay_brings_them_back() {
    let receiver = Receiver::start().await;
    receiver.set(Mode::Status(503));
    let events = events_yaml(
        &[("crm", &receiver.url(), "")],
        "  retry: { schedule: [10s, 100s], jitter: 0.2 }\n",
    );
    let app = spawn(events, true, &["crm"]).await;
    let clock = app.clock.clone().unwrap();
    use parley::domain::Clock;
    app.store
        .record_events(&[event(OutEventKind::ContactChanged, 7, 1, 1)])
        .await
        .unwrap();
    let attempt = |n: i64| {
        let app = &app;
        async move {
            eventually(Duration::from_secs(10), &format!("attempt {n}"), || async {
                let rows = log(app, "endpoint=crm").await;
                rows.first().filter(|r| r["attempts"] == n).cloned()
            })
            .await
        }
    };
    let first = attempt(1).await;
    assert_eq!(first["state"], "pending");
    assert_eq!(first["last_status"], 503);
    assert!(first["last_error"].as_str().unwrap().contains("503"));
    let wait = |row: &Value| {
        let next: chrono::DateTime<chrono::Utc> = row["next_at"].as_str().unwrap().parse().unwrap();
        (next - clock.now()).num_milliseconds()
    };
    let w1 = wait(&first);
    assert!((8_000..=12_000).contains(&w1), "10s ±20%: {w1} ms");
    // Not before its time: the receiver hears nothing more until the clock moves.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.got().len(), 1);
    clock.advance(chrono::TimeDelta::seconds(13));
    let second = attempt(2).await;
    let w2 = wait(&second);
    assert!((80_000..=120_000).contains(&w2), "100s ±20%: {w2} ms");
    clock.advance(chrono::TimeDelta::seconds(121));
    let parked = attempt(3).await;
    assert_eq!(parked["state"], "parked");
    assert!(parked["last_error"]
        .as_str()
        .unwrap()
        .starts_with("parked after 3 attempts"));
    assert_eq!(receiver.got().len(), 3);
    assert!(
        receiver.got().iter().all(|g| g.id == receiver.got()[0].id),
        "one webhook-id"
    );
    // The log filters; the event shows its payload and deliveries.
    assert_eq!(
        log(&app, "state=parked&kind=contact.changed").await.len(),
        1
    );
    assert!(log(&app, "state=delivered").await.is_empty());
    let (status, shown) = call(
        &app,
        "GET",
        &format!("/api/events/{}", receiver.got()[0].id),
        None,
    )
    .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["event"]["payload"]["type"], "contact.changed");
    assert_eq!(shown["deliveries"][0]["state"], "parked");
    let (status, bad) = call(&app, "GET", "/api/events/deliveries?state=lost", None).await;
    assert_eq!(status, 422, "{bad}");
    // Replay the endpoint's parked deliveries; the receiver is healthy again.
    receiver.set(Mode::Ok);
    let (status, bad) = call(
        &app,
        "POST",
        "/api/events/replay",
        Some(json!({ "endpoint": "crm" })),
    )
    .await;
    assert!(status == 422 || status == 400, "{bad}");
    let (status, replayed) = call(
        &app,
        "POST",
        "/api/events/replay",
        Some(json!({ "endpoint": "crm", "state": "parked", "since": "2000-01-01T00:00:00Z" })),
    )
    .await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["requeued"], 1);
    received(&receiver, 4, Duration::from_secs(10)).await;
    let done = eventually(Duration::from_secs(10), "delivered", || async {
        log(&app, "endpoint=crm&state=delivered")
            .await
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["last_status"], 200);
    // A replay by id delivers a delivered event again, with the same webhook-id.
    let (status, _) = call(
        &app,
        "POST",
        "/api/events/replay",
        Some(json!({ "endpoint": "crm", "delivery_ids": [done["id"]] })),
    )
    .await;
    assert_eq!(status, 200);
    let got = received(&receiver, 5, Duration::from_secs(10)).await;
    assert_eq!(got[4].id, got[0].id);
}

#[tokio::test]
async fn a_gone_endpoint_parks_at_once() {
    let receiver = Receiver::start().await;
    receiver.set(Mode::Status(410));
    let app = spawn(
        events_yaml(&[("crm", &receiver.url(), "")], ""),
        false,
        &["crm"],
    )
    .await;
    app.store
        .record_events(&[event(OutEventKind::ContactChanged, 7, 1, 1)])
        .await
        .unwrap();
    let row = eventually(Duration::from_secs(10), "parked", || async {
        log(&app, "state=parked").await.into_iter().next()
    })
    .await;
    assert_eq!(row["attempts"], 1);
    assert_eq!(row["last_status"], 410);
}

#[tokio::test]
async fn each_endpoint_hears_only_its_kinds_and_senders() {
    let all = Receiver::start().await;
    let received_only = Receiver::start().await;
    let twilio_only = Receiver::start().await;
    let events = events_yaml(
        &[
            ("all", &all.url(), ""),
            (
                "received",
                &received_only.url(),
                ", events: [message.received]",
            ),
            ("twilio", &twilio_only.url(), ", senders: [2]"),
        ],
        "",
    );
    let app = spawn(events, false, &["crm", "all", "received", "twilio"]).await;
    app.store
        .record_events(&[
            event(OutEventKind::MessageReceived, 1, 1, 1),
            event(OutEventKind::MessageSent, 1, 1, 2),
            event(OutEventKind::MessageReceived, 2, 2, 3),
            event(OutEventKind::HandoffBegan, 2, 2, 4),
            NewOutEvent {
                sender_id: None,
                conversation_id: None,
                ..event(OutEventKind::BroadcastFinished, 0, 0, 5)
            },
        ])
        .await
        .unwrap();
    let ns = |r: &Receiver| -> Vec<i64> {
        let mut n: Vec<i64> = r
            .got()
            .iter()
            .map(|g| g.json()["data"]["n"].as_i64().unwrap())
            .collect();
        n.sort();
        n
    };
    received(&all, 5, Duration::from_secs(10)).await;
    received(&received_only, 2, Duration::from_secs(10)).await;
    received(&twilio_only, 3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ns(&all), [1, 2, 3, 4, 5]);
    assert_eq!(ns(&received_only), [1, 3]);
    // Events of no sender (a broadcast's end) reach every endpoint that hears their kind.
    assert_eq!(ns(&twilio_only), [3, 4, 5]);
    let (_, shown) = call(
        &app,
        "GET",
        "/api/events/deliveries?endpoint=received",
        None,
    )
    .await;
    assert_eq!(shown["deliveries"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_hanging_endpoint_never_slows_replies_to_customers() {
    let receiver = Receiver::start().await;
    receiver.set(Mode::Hang);
    let events = events_yaml(
        &[("crm", &receiver.url(), ", timeout: 2s")],
        "  lease: 5s\n",
    );
    let app = spawn(events, false, &["crm", "all", "received", "twilio"]).await;
    let ts = chrono::Utc::now().timestamp();
    let r = app
        .post_meta(&meta_text("16315550999", "wamid.hang.first", "hi", ts))
        .await;
    assert_eq!(r.status(), 200);
    // The endpoint is called and holds the delivery…
    eventually(Duration::from_secs(10), "the endpoint called", || async {
        (!receiver.got().is_empty()).then_some(())
    })
    .await;
    // …while every customer who writes now is answered.
    let t0 = Instant::now();
    for i in 0..20 {
        let from = format!("1631555{:04}", 2000 + i);
        let r = app
            .post_meta(&meta_text(&from, &format!("wamid.hang.{i}"), "hi", ts))
            .await;
        assert_eq!(r.status(), 200);
    }
    app.wait_meta_sends(21, Duration::from_secs(15)).await;
    let answered = t0.elapsed();
    // The endpoint's own deliveries time out and wait for their retry.
    let row = eventually(Duration::from_secs(15), "a timed-out attempt", || async {
        log(&app, "endpoint=crm")
            .await
            .into_iter()
            .find(|r| r["attempts"].as_i64() >= Some(1))
    })
    .await;
    assert!(
        row["last_error"]
            .as_str()
            .unwrap()
            .contains("did not answer within 2s"),
        "{row}"
    );
    assert_eq!(row["state"], "pending");
    eprintln!("20 replies with a hanging endpoint: {answered:?}");
}

#[tokio::test]
async fn ten_thousand_events_through_a_receiver_killed_and_restarted_lose_none_and_keep_order() {
    ten_thousand_events(None, 1).await;
}

#[tokio::test]
async fn ten_thousand_events_on_postgres_with_two_processes_lose_none_and_keep_order() {
    let Some(url) = crate::postgres::fresh_database().await else {
        return;
    };
    ten_thousand_events(Some(url), 2).await;
}

/// 10,000 events across 200 conversations, recorded while `processes` apps deliver them
/// to a receiver killed twice: none lost, each conversation's in order, few repeats.
async fn ten_thousand_events(database_url: Option<String>, processes: usize) {
    let mut receiver = Receiver::start().await;
    let schedule: Vec<&str> = vec!["200ms"; 50];
    let events = events_yaml(
        &[("crm", &receiver.url(), ", timeout: 2s")],
        &format!(
            "  concurrency: 32\n  lease: 5s\n  retry: {{ schedule: [{}], jitter: 0.2 }}\n",
            schedule.join(", ")
        ),
    );
    let mut apps = Vec::new();
    for _ in 0..processes {
        let app = spawn_with(Options {
            extra_yaml: format!("{}{events}", api_yaml(1000, 1000)),
            config_edits: vec![PRIVATE],
            database_url: database_url.clone(),
            ..Options::default()
        })
        .await;
        app.store.event_cursor("crm").await.unwrap();
        apps.push(app);
    }
    let app = &apps[0];
    const TOTAL: i64 = 10_000;
    const CONVERSATIONS: i64 = 200;
    let writer = {
        let store = app.store.clone();
        tokio::spawn(async move {
            for chunk in 0..(TOTAL / 500) {
                let batch: Vec<NewOutEvent> = (chunk * 500..(chunk + 1) * 500)
                    .map(|n| {
                        event(
                            OutEventKind::MessageReceived,
                            1_000 + n % CONVERSATIONS,
                            1,
                            n,
                        )
                    })
                    .collect();
                store.record_events(&batch).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    // Killed twice while events flow, down for a second each time.
    for _ in 0..2 {
        let before = receiver.got().len();
        eventually(Duration::from_secs(60), "deliveries flowing", || async {
            (receiver.got().len() > before + 1500).then_some(())
        })
        .await;
        receiver.kill();
        tokio::time::sleep(Duration::from_secs(1)).await;
        receiver.restart().await;
    }
    writer.await.unwrap();
    let got = eventually(Duration::from_secs(120), "every event", || async {
        let got = receiver.got();
        let distinct: HashSet<String> = got.iter().map(|g| g.id.clone()).collect();
        (distinct.len() as i64 >= TOTAL).then_some(got)
    })
    .await;
    let mut per_conversation: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for g in &got {
        let data = &g.json()["data"];
        per_conversation
            .entry(data["conversation"].as_i64().unwrap())
            .or_default()
            .push(data["n"].as_i64().unwrap());
    }
    assert_eq!(per_conversation.len() as i64, CONVERSATIONS);
    for (c, ns) in &per_conversation {
        // In order: a later event only after the earlier ones; a repeat (at least once)
        // is only of the event just delivered, never of an earlier one after a later one.
        assert!(
            ns.windows(2).all(|w| w[0] <= w[1]),
            "conversation {c}: {ns:?}"
        );
        let distinct: HashSet<_> = ns.iter().collect();
        assert_eq!(
            distinct.len() as i64,
            TOTAL / CONVERSATIONS,
            "conversation {c}"
        );
    }
    let duplicates = got.len() as i64 - TOTAL;
    eprintln!("10,000 events, receiver killed twice: {duplicates} duplicates");
    assert!(duplicates < 200, "{duplicates} duplicates");
    eventually(
        Duration::from_secs(10),
        "all recorded delivered",
        || async {
            let rows = log(app, "endpoint=crm&state=pending&limit=10").await;
            rows.is_empty().then_some(())
        },
    )
    .await;
    assert!(log(app, "state=parked").await.is_empty());
}

/// The config of a `parley serve` child on `port` with the endpoint `crm` at `url`.
fn child_config(dir: &std::path::Path, port: u16, meta: &str, url: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("flows")).unwrap();
    std::fs::write(dir.join("flows/echo.yaml"), crate::helpers::ECHO_FLOW).unwrap();
    let db = format!("sqlite://{}", dir.join("parley.db").display());
    let schedule = vec!["200ms"; 20].join(", ");
    let events = events_yaml(
        &[("crm", url, ", timeout: 2s")],
        &format!("  lease: 3s\n  retry: {{ schedule: [{schedule}], jitter: 0.2 }}\n"),
    );
    let extra = format!("{}{events}", api_yaml(1000, 1000));
    let yaml = crate::helpers::config_yaml(dir, &db, meta, "http://127.0.0.1:9", &extra)
        .replace("listen: 127.0.0.1:0", &format!("listen: 127.0.0.1:{port}"))
        .replace(PRIVATE.0, PRIVATE.1)
        .replace("send_timeout: 2s", "send_timeout: 2s, lease: 1s")
        .replace(
            "inbox: { poll_interval: 50ms }",
            "inbox: { poll_interval: 50ms, lease: 1s }",
        );
    let config = dir.join("parley.yaml");
    std::fs::write(&config, yaml).unwrap();
    config
}

fn parley_cli(config: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("events")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn parley_killed_while_events_flow_loses_none_and_the_cli_replays() {
    use crate::crash::{free_port, post_meta_to, sigkill, sigterm_and_wait, start, wait_healthy};
    let dir = tempfile::tempdir().unwrap();
    let meta = wiremock::MockServer::start().await;
    crate::helpers::mount_meta_ok(&meta).await;
    let receiver = Receiver::start().await;
    // Slow: deliveries are in flight when the process dies.
    receiver.set(Mode::Slow(Duration::from_millis(100)));
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let config = child_config(dir.path(), port, &meta.uri(), &receiver.url());
    let http = reqwest::Client::new();
    let ts = chrono::Utc::now().timestamp();
    let write = |i: usize| {
        meta_text(
            &format!("1631555{:04}", 3000 + i),
            &format!("wamid.kill.{i}"),
            "hi",
            ts,
        )
    };

    let mut first = start(&config, dir.path());
    wait_healthy(&http, &addr).await;
    for i in 0..30 {
        assert_eq!(post_meta_to(&http, &addr, write(i)).await, 200);
    }
    eventually(Duration::from_secs(20), "events flowing", || async {
        (receiver.got().len() >= 10).then_some(())
    })
    .await;
    sigkill(&mut first);
    let at_kill = receiver.got().len();

    let second = start(&config, dir.path());
    wait_healthy(&http, &addr).await;
    for i in 30..40 {
        assert_eq!(post_meta_to(&http, &addr, write(i)).await, 200);
    }
    eventually(Duration::from_secs(30), "40 replies", || async {
        (crate::helpers::sends(&meta).await.len() >= 40).then_some(())
    })
    .await;
    // Until nothing is left to deliver.
    eventually(Duration::from_secs(30), "nothing pending", || async {
        let r = http
            .get(format!(
                "{addr}/api/events/deliveries?state=pending&limit=1"
            ))
            .bearer_auth(crate::api::KEY)
            .send()
            .await
            .ok()?;
        let v: Value = r.json().await.ok()?;
        let quiet = v["deliveries"].as_array()?.is_empty();
        // A moment without new events: the last step's events are in.
        tokio::time::sleep(Duration::from_millis(300)).await;
        quiet.then_some(())
    })
    .await;
    assert!(sigterm_and_wait(second).await.success());

    // Every event recorded, in both lives, reached the receiver.
    let database = parley::config::DatabaseConfig {
        url: format!("sqlite://{}", dir.path().join("parley.db").display()),
        ..Default::default()
    };
    let store = parley::store::connect(&database).await.unwrap();
    let recorded = store.events_after(0, 1000).await.unwrap();
    let got: HashSet<String> = receiver.got().iter().map(|g| g.id.clone()).collect();
    assert!(recorded.len() > 80, "{} events", recorded.len());
    let lost: Vec<String> = recorded
        .iter()
        .map(|e| e.webhook_id())
        .filter(|id| !got.contains(id))
        .collect();
    assert!(lost.is_empty(), "lost across SIGKILL: {lost:?}");
    eprintln!(
        "SIGKILL after {at_kill} deliveries: {} events, {} deliveries",
        recorded.len(),
        receiver.got().len()
    );
    drop(store);

    // The CLI: the log, and a replay of one delivery, made by the next start.
    let (ok, text) = parley_cli(&config, &["log", "--endpoint", "crm", "--limit", "5"]);
    assert!(ok, "{text}");
    let row = text.lines().nth(1).unwrap().to_string();
    assert!(row.contains("delivered"), "{text}");
    let mut cols = row.split_whitespace();
    let (delivery, event) = (
        cols.next().unwrap().to_string(),
        cols.next().unwrap().to_string(),
    );
    let (ok, text) = parley_cli(&config, &["replay", "--endpoint", "crm"]);
    assert!(!ok && text.contains("--id"), "{text}");
    let (ok, text) = parley_cli(&config, &["replay", "--endpoint", "crm", "--id", &delivery]);
    assert!(ok, "{text}");
    assert!(text.contains("1 deliveries to crm queued again"), "{text}");
    let (ok, text) = parley_cli(&config, &["log", "--state", "pending"]);
    assert!(ok && text.contains(&event), "{text}");
    let times = |r: &Receiver| r.got().iter().filter(|g| g.id == event).count();
    let before = times(&receiver);
    let mut third = start(&config, dir.path());
    wait_healthy(&http, &addr).await;
    eventually(Duration::from_secs(20), "the replayed delivery", || async {
        (times(&receiver) > before).then_some(())
    })
    .await;
    sigkill(&mut third);
}
