//! Conversations before campaigns, fair across numbers (issue 60, item 2): while a
//! broadcast sends on Meta sender A at its pace, a customer who writes to A gets the next
//! slot of A's pace (not a place behind the broadcast's backlog), and a customer who writes
//! to Twilio sender B is answered at once, even with fewer outbox slots than the
//! broadcast has sends waiting: a send waiting for its turn in a pace holds no slot. On
//! SQLite, on PostgreSQL, and with two processes sharing one PostgreSQL.
//!
//! Ordering is read from the doubles: both record each send into one list as it arrives,
//! and each customer writes just after one of the broadcast's sends arrived, so the next
//! one is a whole slot (a second at A's pace of 1/s) away.

use crate::api::{api_yaml, KEY};
use crate::helpers::*;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, Request, ResponseTemplate};

/// The broadcast's recipients.
const RECIPIENTS: usize = 8;

/// What reached the doubles, in order: which Parley sent it, and `bulk` for each of the
/// broadcast's template sends or the text of a reply.
type Arrivals = Arc<Mutex<Vec<(u8, String)>>>;

/// A Parley (`process`) with sender A (Meta) paced at 1 send a second, two outbox slots,
/// on `database_url`, its doubles recording into `arrivals`.
async fn parley(database_url: Option<String>, arrivals: &Arrivals, process: u8) -> TestApp {
    let app = spawn_with(Options {
        database_url,
        extra_yaml: format!(
            "{}broadcasts: {{ poll_interval: 100ms }}\n",
            api_yaml(1000, 1000)
        ),
        config_edits: vec![
            (
                "phone_number: \"+15550783880\"\n    messages_per_second: 1000",
                "phone_number: \"+15550783880\"\n    messages_per_second: 1",
            ),
            (
                "outbox: { poll_interval: 50ms,",
                "outbox: { poll_interval: 50ms, concurrency: 2,",
            ),
        ],
        ..Options::default()
    })
    .await;
    record_meta(&app, arrivals.clone(), process).await;
    record_twilio(&app, arrivals.clone(), process).await;
    app
}

async fn record_meta(app: &TestApp, arrivals: Arrivals, process: u8) {
    app.meta.reset().await;
    Mock::given(method("POST"))
        .and(path_regex(META_SENDS))
        .respond_with(move |req: &Request| {
            let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
            let what = match body["text"]["body"].as_str() {
                Some(text) => text.to_string(),
                None => "bulk".to_string(),
            };
            arrivals.lock().unwrap().push((process, what));
            meta_accepts(req)
        })
        .mount(&app.meta)
        .await;
}

async fn record_twilio(app: &TestApp, arrivals: Arrivals, process: u8) {
    app.twilio.reset().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/2010-04-01/Accounts/.+/Messages\.json$"))
        .respond_with(move |req: &Request| {
            let form: std::collections::HashMap<String, String> =
                serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
            let text = form.get("Body").cloned().unwrap_or_default();
            arrivals.lock().unwrap().push((process, text));
            let n = uuid::Uuid::new_v4().simple().to_string();
            ResponseTemplate::new(201)
                .set_body_json(json!({ "sid": format!("SM{}", &n[..32]), "status": "queued" }))
        })
        .mount(&app.twilio)
        .await;
}

/// A broadcast of template 45 on sender A to `RECIPIENTS` customers who never wrote.
async fn broadcast(app: &TestApp) {
    let recipients: Vec<String> = (0..RECIPIENTS).map(|i| format!("+346{i:08}")).collect();
    let r = app
        .http
        .post(format!("{}/api/broadcasts", app.addr))
        .bearer_auth(KEY)
        .json(&json!({
            "template_id": 45, "sender_id": 1, "variables": { "1": "Ana" },
            "recipients": recipients,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

fn bulk_sent(arrivals: &Arrivals) -> usize {
    arrivals
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, a)| a == "bulk")
        .count()
}

/// Waits until `n` of the broadcast's sends arrived.
async fn bulk_reaches(arrivals: &Arrivals, n: usize) {
    wait_until(
        &format!("{n} broadcast sends"),
        Duration::from_secs(30),
        || bulk_sent(arrivals) >= n,
    )
    .await;
}

/// A customer writes `text` to sender A (Meta).
async fn writes_to_a(app: &TestApp, customer: &str, text: &str) {
    let wamid = format!("wamid.fair.{}", uuid::Uuid::new_v4().simple());
    let r = app
        .post_meta(&meta_text(customer, &wamid, text, now_unix()))
        .await;
    assert_eq!(r.status(), 200);
}

/// A customer writes `text` to sender B (Twilio).
async fn writes_to_b(app: &TestApp, customer: &str, text: &str) {
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    let from = format!("whatsapp:+{customer}");
    let params = [
        ("MessageSid", sid.as_str()),
        ("AccountSid", "ACtest"),
        ("From", from.as_str()),
        ("To", "whatsapp:+15550783881"),
        ("Body", text),
        ("WaId", customer),
        ("ProfileName", "Ana"),
    ];
    assert_eq!(post_twilio(app, "/webhooks/twilio", &params).await, 200);
}

/// How many of the broadcast's sends by the Parley that sent `reply` arrived after the
/// first `mark` arrivals and before `reply` (which must arrive).
async fn bulk_between(arrivals: &Arrivals, mark: usize, reply: &str) -> usize {
    let started = Instant::now();
    loop {
        {
            let seen = arrivals.lock().unwrap();
            if let Some(at) = seen.iter().position(|(_, a)| a == reply) {
                let by = seen[at].0;
                return seen[mark..at]
                    .iter()
                    .filter(|(p, a)| *p == by && a == "bulk")
                    .count();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no reply `{reply}`: {:?}",
            arrivals.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Two rounds: once the broadcast's `k`th send arrived, a customer writes to A (through
/// `writer_a`) and another to B (through `writer_b`); each reply arrives after at most
/// `slack` of the broadcast's sends by its Parley. Then every recipient has the broadcast
/// once.
async fn replies_overtake_the_broadcast(
    writer_a: &TestApp,
    writer_b: &TestApp,
    arrivals: &Arrivals,
    slack: usize,
) {
    for (round, k) in [(1, 2), (2, 4)] {
        bulk_reaches(arrivals, k).await;
        let mark = arrivals.lock().unwrap().len();
        let (a, b) = (format!("hi a{round}"), format!("hi b{round}"));
        writes_to_a(writer_a, &format!("1631555118{round}"), &a).await;
        writes_to_b(writer_b, &format!("1631555128{round}"), &b).await;
        // A's reply takes A's next slot, before the broadcast's send that waits for it;
        // B's reply goes at once, though the broadcast's sends outnumber the outbox's
        // two slots.
        let on_a = bulk_between(arrivals, mark, &format!("echo: {a}")).await;
        assert!(
            on_a <= slack,
            "the reply on A waited behind {on_a} of the broadcast's sends: {:?}",
            arrivals.lock().unwrap()
        );
        let on_b = bulk_between(arrivals, mark, &format!("echo: {b}")).await;
        assert!(
            on_b <= slack,
            "the reply on B waited for an outbox slot ({on_b} broadcast sends): {:?}",
            arrivals.lock().unwrap()
        );
    }
    // The broadcast went on with the rest of the pace, each recipient once.
    bulk_reaches(arrivals, RECIPIENTS).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        bulk_sent(arrivals),
        RECIPIENTS,
        "{:?}",
        arrivals.lock().unwrap()
    );
}

#[tokio::test]
async fn replies_on_both_numbers_overtake_a_broadcast_in_progress() {
    let arrivals = Arrivals::default();
    let app = parley(None, &arrivals, 1).await;
    broadcast(&app).await;
    replies_overtake_the_broadcast(&app, &app, &arrivals, 0).await;
    app.shutdown().await;
}

#[tokio::test]
async fn postgres_replies_on_both_numbers_overtake_a_broadcast_in_progress() {
    let Some(url) = crate::postgres::fresh_database().await else {
        return;
    };
    let arrivals = Arrivals::default();
    let app = parley(Some(url), &arrivals, 1).await;
    broadcast(&app).await;
    replies_overtake_the_broadcast(&app, &app, &arrivals, 0).await;
    app.shutdown().await;
}

/// Two processes on one PostgreSQL, each pacing A at 1/s and both taking the broadcast's
/// sends: a customer writing to either number through either process is answered before
/// that process's next send of the broadcast, but for one that had its slot already (the
/// customer wrote just after a send of the *other* process, so this one's slot may be
/// near).
#[tokio::test]
async fn postgres_two_processes_answer_both_numbers_during_a_broadcast() {
    let Some(url) = crate::postgres::fresh_database().await else {
        return;
    };
    let arrivals = Arrivals::default();
    let first = parley(Some(url.clone()), &arrivals, 1).await;
    let second = parley(Some(url), &arrivals, 2).await;
    broadcast(&first).await;
    replies_overtake_the_broadcast(&second, &first, &arrivals, 1).await;
    second.shutdown().await;
    first.shutdown().await;
}

/// At shutdown, the broadcast's sends still waiting for their turn are put back, not sent
/// at the pace first (eight seconds here) nor lost: a restart sends the rest, each once.
#[tokio::test]
async fn shutdown_puts_back_the_sends_waiting_for_their_turn() {
    let arrivals = Arrivals::default();
    let app = parley(None, &arrivals, 1).await;
    broadcast(&app).await;
    bulk_reaches(&arrivals, 2).await;
    let asked = Instant::now();
    let app = app.restart().await;
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "the shutdown waited {:?} for the broadcast's backlog",
        asked.elapsed()
    );
    bulk_reaches(&arrivals, RECIPIENTS).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        bulk_sent(&arrivals),
        RECIPIENTS,
        "{:?}",
        arrivals.lock().unwrap()
    );
    app.shutdown().await;
}
