//! Broadcasts end to end: the API's refusals (nothing stored), a sandbox broadcast to
//! thousands of imported contacts on the 2,000-user tier with a manual clock (it stops at
//! the tier and resumes 24 hours later, no 131049 is sent again the same day, and the
//! progress equals the statuses the sandbox sent), pause / resume / cancel, a reply routed
//! to the broadcast's `reply_flow`, and the real binary killed in the middle of a
//! broadcast (0 recipients queued twice, 0 skipped).
//!
//! The large run's size is `PARLEY_BROADCAST_SIZE` (default 10,000).

use crate::api::{api_yaml, call, post, KEY};
use crate::crash::{free_port, sigkill, start, wait_healthy};
use crate::helpers::*;
use parley::config::DatabaseConfig;
use parley::domain::Clock;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const OFFER_REPLY: &str =
    "id: offer_reply\nsteps:\n  - send:\n      text: \"Thanks for answering the offer\"\n";

/// A marketing template with one placeholder and a pending one; the sandbox sender in
/// portfolio `main` (2,000 customers a day).
const EDITS: &[(&str, &str)] = &[
    // The manual clock jumps a day between windows. A lease taken with the time read just
    // before a jump (read, then used after the jump) would then have run out
    // at once, and the send it covers would wait "in doubt" for a clock that no longer
    // moves (seen: 20 sends stuck in 2 runs of 5). Leases longer than the jumps keep the
    // test about pacing, which is what it is about.
    (
        "inbox: { poll_interval: 50ms }",
        "inbox: { poll_interval: 50ms, lease: 30d }",
    ),
    (
        "outbox: { poll_interval: 50ms,",
        "outbox: { poll_interval: 50ms, lease: 30d,",
    ),
    (
        "templates:\n",
        "templates:\n  - { id: 50, name: promo, language: en, status: approved, category: marketing, body: \"Hi {{1}}, 20% off today.\" }\n  - { id: 51, name: draft, language: en, status: pending, category: marketing, body: \"Soon {{1}}\" }\n",
    ),
    (
        "phone_number: \"+15550000000\" }",
        "phone_number: \"+15550000000\", portfolio: main }",
    ),
];

fn yaml(held_percent: u8) -> String {
    format!(
        "{}portfolios: [{{ id: main, messaging_limit: 2000 }}]\nbroadcasts: {{ poll_interval: 50ms, page_size: 500 }}\nsandbox: {{ marketing_limited_percent: {held_percent}, statuses: {{ sent_after: 20ms, delivered_after: 40ms, read_after: 60ms }} }}\n",
        api_yaml(1000, 1000)
    )
}

async fn spawn(held_percent: u8) -> TestApp {
    spawn_on(held_percent, None).await
}

async fn spawn_on(held_percent: u8, database_url: Option<String>) -> TestApp {
    spawn_with(Options {
        database_url,
        manual_clock: true,
        extra_yaml: yaml(held_percent),
        config_edits: EDITS.to_vec(),
        flows: vec![("echo.yaml", ECHO_FLOW), ("offer_reply.yaml", OFFER_REPLY)],
        ..Options::default()
    })
    .await
}

fn spanish(i: usize) -> String {
    format!("+346{i:08}")
}

async fn import_csv(app: &TestApp, csv: String) {
    let r = app
        .http
        .post(format!("{}/api/contacts/import", app.addr))
        .bearer_auth(KEY)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// `POST /api/broadcasts/{id}/{action}` (pause, resume, cancel).
async fn act(app: &TestApp, id: i64, action: &str) -> (u16, Value) {
    call(app, "POST", &format!("/api/broadcasts/{id}/{action}"), None).await
}

async fn show(app: &TestApp, id: i64) -> Value {
    let (status, body) = call(app, "GET", &format!("/api/broadcasts/{id}"), None).await;
    assert_eq!(status, 200, "{body:#}");
    body
}

/// Polls the broadcast until `done` says so.
async fn wait_for(
    app: &TestApp,
    id: i64,
    what: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let t0 = Instant::now();
    loop {
        let body = show(app, id).await;
        if done(&body) {
            return body;
        }
        assert!(
            t0.elapsed() < within,
            "timed out waiting for {what}: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn promo(extra: Value) -> Value {
    let mut body = json!({
        "name": "spring",
        "template_name": "promo",
        "language": "en",
        "sender_id": 3,
        "variables": { "1": "{{ contact.fields.first_name }}" },
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn bad_broadcast_requests_are_refused_naming_the_field_and_store_nothing() {
    let app = spawn(0).await;
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            json!({ "sender_id": 3, "variables": {}, "recipients": ["+34600000001"] }),
            422,
            "template",
            "template_id",
        ),
        (
            promo(json!({ "sender_id": 99, "recipients": ["+34600000001"] })),
            404,
            "sender_id",
            "SENDER_NOT_FOUND",
        ),
        (
            promo(json!({ "template_name": "draft", "recipients": ["+34600000001"] })),
            422,
            "template",
            "not approved",
        ),
        (
            promo(
                json!({ "template_name": "promo", "language": "fr", "recipients": ["+34600000001"] }),
            ),
            422,
            "template",
            "no template",
        ),
        (
            promo(json!({ "variables": {}, "recipients": ["+34600000001"] })),
            422,
            "variables",
            "{{1}}",
        ),
        (
            promo(json!({ "variables": { "1": "x", "2": "y" }, "recipients": ["+34600000001"] })),
            422,
            "variables",
            "no placeholder {{2}}",
        ),
        (
            promo(
                json!({ "variables": { "1": "{{ message.text }}" }, "recipients": ["+34600000001"] }),
            ),
            422,
            "variables",
            "contact.fields",
        ),
        (
            promo(json!({ "variables": { "1": 5 }, "recipients": ["+34600000001"] })),
            422,
            "variables",
            "must be a string",
        ),
        (promo(json!({})), 422, "recipients", "audience"),
        (
            promo(json!({ "audience": { "tags": ["vip"] }, "recipients": ["+34600000001"] })),
            422,
            "recipients",
            "not both",
        ),
        (
            promo(json!({ "audience": { "colour": "red" } })),
            422,
            "audience",
            "not a condition",
        ),
        (
            promo(json!({ "audience": {} })),
            422,
            "audience",
            "would reach every contact",
        ),
        (
            promo(json!({ "audience": { "tags": [], "fields": {} } })),
            422,
            "audience",
            "to send to everyone",
        ),
        (
            promo(json!({ "audience": { "all": true, "tags": ["vip"] } })),
            422,
            "audience",
            "remove the conditions",
        ),
        (
            promo(json!({ "variables": { "1": "a\nb" }, "recipients": ["+34600000001"] })),
            422,
            "variables",
            "line break",
        ),
        (
            promo(json!({ "variables": { "1": "a      b" }, "recipients": ["+34600000001"] })),
            422,
            "variables",
            "four spaces",
        ),
        (
            promo(json!({ "name": "ctl\u{0}\u{1b}[31m", "recipients": ["+34600000001"] })),
            422,
            "name",
            "control character",
        ),
        (
            promo(json!({ "audience": { "inactive_for": "soon" } })),
            422,
            "inactive_for",
            "duration",
        ),
        (
            promo(json!({ "recipients": (0..10_001).map(spanish).collect::<Vec<_>>() })),
            422,
            "recipients",
            "at most 10000",
        ),
        (
            promo(json!({ "recipients": [] })),
            422,
            "recipients",
            "empty",
        ),
        (
            promo(json!({ "recipients": ["abc", "+1555"] })),
            422,
            "recipients",
            "no entry of the list is a phone number",
        ),
        (
            promo(json!({ "variables": { "1": "" }, "recipients": ["+34600000001"] })),
            422,
            "variables",
            "variable 1 is empty",
        ),
        (
            promo(json!({ "recipients": ["+34600000001"], "start_at": "tomorrow" })),
            422,
            "start_at",
            "2026-12-01",
        ),
        (
            promo(json!({ "recipients": ["+34600000001"], "reply_flow": "nope" })),
            422,
            "reply_flow",
            "`nope`",
        ),
        (
            promo(json!({ "recipients": ["+34600000001"], "sender_id": "3" })),
            422,
            "sender_id",
            "without quotes",
        ),
    ];
    for (body, status, field, words) in cases {
        let (got, answer) = post(&app, "/api/broadcasts", body.clone()).await;
        assert_eq!(got, status, "{body}\n{answer:#}");
        assert_eq!(answer["success"], false);
        assert_eq!(answer["field"], field, "{answer:#}");
        let text = format!("{} {}", answer["error"], answer["error_code"]);
        assert!(text.contains(words), "`{words}` not in {answer:#}");
    }
    let r = app
        .http
        .post(format!("{}/api/broadcasts", app.addr))
        .bearer_auth(KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (status, list) = call(&app, "GET", "/api/broadcasts", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["broadcasts"], json!([]), "nothing was stored");
    let (status, body) = call(&app, "GET", "/api/broadcasts/abc", None).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (404, Some("BROADCAST_NOT_FOUND"))
    );
    let (status, _) = act(&app, 42, "pause").await;
    assert_eq!(status, 404);
    let r = app
        .http
        .get(format!("{}/api/broadcasts", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the API key is required");

    // A list: bad entries and customers lacking the field are refused into the report.
    import_csv(
        &app,
        "phone,first_name\n+34600000001,Ana\n+34600000002,\n".into(),
    )
    .await;
    let (status, body) = post(
        &app,
        "/api/broadcasts",
        promo(json!({ "recipients": ["+34600000001", "+34 600 000 001", "12", "+1234567890", "+34600000002", "+34600000003"] })),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let refused: Vec<(String, String)> = body["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["recipient"].as_str().unwrap().into(),
                r["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(refused.len(), 5, "{body:#}");
    assert_eq!(
        refused[0],
        ("+34 600 000 001".into(), "listed twice".into())
    );
    assert!(refused[1].1.contains("phone number"), "{refused:?}");
    // The shape of a number is not enough: it must exist in its country's plan.
    assert_eq!(refused[2].0, "+1234567890", "{refused:?}");
    assert!(refused[2].1.contains("numbering plan"), "{refused:?}");
    assert_eq!(
        refused[3],
        ("+34600000002".into(), "missing_field:first_name".into())
    );
    assert_eq!(
        refused[4],
        ("+34600000003".into(), "missing_field:first_name".into())
    );
    assert_eq!(body["progress"]["recipients"], 3);
    assert_eq!(body["progress"]["skipped"]["missing_field:first_name"], 2);
}

/// Whether the sandbox holds a marketing message to `key` back (its FNV-1a pick).
fn held(key: &str, percent: u64) -> bool {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % 100 < percent
}

#[tokio::test]
async fn a_sandbox_broadcast_stops_at_the_tier_resumes_a_day_later_and_counts_what_happened() {
    let size: usize = std::env::var("PARLEY_BROADCAST_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    tier_run(None, size).await;
}

#[tokio::test]
async fn on_postgres_a_broadcast_stops_at_the_tier_and_resumes_a_day_later() {
    let Some(url) = crate::postgres::fresh_database().await else {
        return;
    };
    tier_run(Some(url), 2_500).await;
}

async fn tier_run(database_url: Option<String>, size: usize) {
    const PERCENT: u64 = 5;
    // The sandbox gives a status up when the ingest queue is full, which a loaded
    // PostgreSQL reaches: there the statuses are not all counted, only the sends.
    let exact = database_url.is_none();
    let app = spawn_on(PERCENT as u8, database_url).await;
    let clock = app.clock.clone().unwrap();
    let mut csv = String::from("phone,tags,first_name\n");
    for i in 0..size {
        csv.push_str(&format!("{},vip,Ana{i}\n", spanish(i)));
    }
    // Held back by region (US: Meta paused marketing there), and one without the field.
    csv.push_str(
        "+16315550001,vip,Bo\n+16315550002,vip,Cy\n+34699999999,vip,\n+34699999998,other,Di\n",
    );
    import_csv(&app, csv).await;
    let t0 = Instant::now();
    let (status, body) = post(
        &app,
        "/api/broadcasts",
        promo(json!({ "audience": { "tags": ["vip"] } })),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let id = n(&body["broadcast"]["id"]);

    let expected_held = (0..size).filter(|i| held(&spanish(*i), PERCENT)).count() as i64;
    let mut windows = 0;
    let mut last_reached = 0;
    loop {
        // Wait until this window's sends are queued and out of the outbox.
        let now = clock.now();
        let body = wait_for(
            &app,
            id,
            "a window of the broadcast",
            Duration::from_secs(300),
            |b| {
                let p = &b["progress"];
                let settled = n(&p["queued"]) == 0
                    && n(&p["accepted"]) == 0
                    && (!exact || n(&p["sent"]) + n(&p["delivered"]) == 0);
                // Waiting for the limit again (not the wait that just ended), or done.
                let waiting = b["broadcast"]["waiting_until"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t > now);
                settled && (b["broadcast"]["state"] == "done" || waiting)
            },
        )
        .await;
        windows += 1;
        let p = &body["progress"];
        let reached_now = size as i64 - n(&p["pending"]);
        let reached = app
            .store
            .portfolio_reached("main", clock.now() - chrono::Duration::hours(24))
            .await
            .unwrap();
        eprintln!(
            "window {windows}: {reached_now} of {size} reached ({} s)",
            t0.elapsed().as_secs()
        );
        if body["broadcast"]["state"] == "done" {
            assert_eq!(n(&p["pending"]), 0);
            break;
        }
        assert_eq!(reached, 2000, "exactly the tier in 24 hours: {body:#}");
        assert_eq!(reached_now - last_reached, 2000, "{body:#}");
        last_reached = reached_now;
        // Half a day later nothing more goes out; a day after the first of the window it resumes.
        clock.advance(chrono::Duration::hours(12));
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            size as i64 - n(&show(&app, id).await["progress"]["pending"]),
            reached_now
        );
        clock.advance(chrono::Duration::hours(12) + chrono::Duration::seconds(2));
    }
    assert_eq!(windows, size.div_ceil(2000));
    if exact {
        stats_equal_statuses(&app, id, size, expected_held).await;
    }
    // The ledger: every send was priced when its page was queued (marketing to Spain, 0.0615
    // USD), a 131049 copy as its original; the statuses priced them the same.
    let (status, costs) = call(&app, "GET", "/api/costs?by=broadcast", None).await;
    assert_eq!(status, 200, "{costs:#}");
    let rows = costs["costs"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{costs:#}");
    let row = &rows[0];
    assert_eq!(n(&row["broadcast_id"]), id);
    let messages = n(&row["messages"]);
    assert!(messages >= size as i64 - expected_held, "{row:#}");
    assert_eq!(n(&row["predicted_micros"]), messages * 61_500, "{row:#}");
    if exact {
        assert!(n(&row["priced"]) >= size as i64 - expected_held, "{row:#}");
        assert_eq!(
            n(&row["actual_micros"]),
            n(&row["priced"]) * 61_500,
            "{row:#}"
        );
    }
    // No recipient WhatsApp held back was sent the message again the same day.
    let mut after = 0;
    let mut checked = 0;
    loop {
        let rows = app
            .store
            .broadcast_recipients(id, after, 1000)
            .await
            .unwrap();
        let Some(last) = rows.last() else { break };
        after = last.id;
        for r in rows.iter().filter(|r| r.state == "queued") {
            let sends = app
                .store
                .conversation_outbound(r.conversation_id, None, 20)
                .await
                .unwrap();
            let mut times: Vec<_> = sends
                .iter()
                .filter(|o| o.origin == parley::store::Origin::Broadcast)
                .map(|o| o.created_at)
                .collect();
            times.sort();
            if times.len() > 1 {
                checked += 1;
            }
            for pair in times.windows(2) {
                assert!(
                    pair[1] - pair[0] >= chrono::Duration::hours(24),
                    "resent the same day: {times:?}"
                );
            }
        }
    }
    assert!(
        checked > 0 || expected_held == 0,
        "some held-back sends were sent again later"
    );
    eprintln!(
        "{size} recipients, {windows} windows, {expected_held} held back (131049), {} s",
        t0.elapsed().as_secs()
    );
}

#[tokio::test]
async fn pause_resume_cancel_and_a_reply_routed_to_the_reply_flow() {
    let app = spawn(0).await;
    let clock = app.clock.clone().unwrap();
    import_csv(
        &app,
        "phone,first_name\n+34600000001,Ana\n+34600000002,Bo\n".into(),
    )
    .await;
    let start = (clock.now() + chrono::Duration::hours(1)).to_rfc3339();
    let (status, body) = post(
        &app,
        "/api/broadcasts",
        promo(json!({ "recipients": ["+34600000001", "+34600000002"], "start_at": start, "reply_flow": "offer_reply" })),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let id = n(&body["broadcast"]["id"]);
    let (status, body) = act(&app, id, "pause").await;
    assert_eq!((status, body["state"].as_str()), (200, Some("paused")));
    let (status, body) = act(&app, id, "pause").await;
    assert_eq!(status, 409, "{body:#}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("only a sending one"));
    clock.advance(chrono::Duration::hours(2));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        n(&show(&app, id).await["progress"]["pending"]),
        2,
        "paused: nothing queued"
    );
    let (status, _) = act(&app, id, "resume").await;
    assert_eq!(status, 200);
    wait_for(&app, id, "both sends read", Duration::from_secs(20), |b| {
        n(&b["progress"]["read"]) == 2
    })
    .await;

    // Ana answers the offer: the reply flow runs, once; her next message goes by triggers.
    let (status, body) = post_json(
        &app,
        "/sandbox/api/messages",
        json!({ "from": "+34600000001", "text": "yes please" }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(
        body["replies"][0]["summary"], "Thanks for answering the offer",
        "{body:#}"
    );
    let (_, body) = post_json(
        &app,
        "/sandbox/api/messages",
        json!({ "from": "+34600000001", "text": "hi again" }),
    )
    .await;
    assert_eq!(body["replies"][0]["summary"], "echo: hi again", "{body:#}");

    // A cancelled broadcast sends nothing, and cannot be resumed.
    let later = (clock.now() + chrono::Duration::hours(1)).to_rfc3339();
    let (_, body) = post(
        &app,
        "/api/broadcasts",
        promo(json!({ "recipients": ["+34600000002"], "start_at": later })),
    )
    .await;
    let second = n(&body["broadcast"]["id"]);
    let (status, body) = act(&app, second, "cancel").await;
    assert_eq!((status, body["state"].as_str()), (200, Some("cancelled")));
    let (status, _) = act(&app, second, "resume").await;
    assert_eq!(status, 409);
    clock.advance(chrono::Duration::hours(2));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let body = show(&app, second).await;
    assert_eq!(body["broadcast"]["state"], "cancelled");
    // Its recipient was never queued and never will be: cancelled, not pending.
    assert_eq!(n(&body["progress"]["pending"]), 0, "{body:#}");
    assert_eq!(n(&body["progress"]["skipped"]["cancelled"]), 1, "{body:#}");
    let (_, list) = call(&app, "GET", "/api/broadcasts", None).await;
    let ids: Vec<i64> = list["broadcasts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| n(&b["id"]))
        .collect();
    assert_eq!(ids, vec![second, id]);
}

#[tokio::test]
async fn a_broadcast_killed_half_way_resumes_with_nobody_queued_twice_or_skipped() {
    let size = 3000;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("parley.db").display());
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    // Statuses come back as from Meta, naming each send, also to the second process for
    // sends the first made just before it was killed.
    let counter = ReplyLog::default().with_statuses(&addr);
    let meta = counter.serve().await;
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    let extra = format!(
        "{}broadcasts: {{ poll_interval: 100ms, lease: 2s, page_size: 200 }}\n",
        api_yaml(1000, 1000)
    );
    let config = process_config(dir.path(), &db, &meta, port, &extra);
    // Sends in flight at the kill wait this long after their lease ran out for a status
    // naming them (60 s by default); enough for the restarted process to take the statuses
    // the double keeps posting. 5 s was once too short for 15 of them on a CI machine busy
    // with the other tests; a status that never came would still show as a duplicate here
    // (the wait only decides when the send goes again).
    let yaml = std::fs::read_to_string(&config)
        .unwrap()
        .replace("unknown_outcome_wait: 1s", "unknown_outcome_wait: 15s");
    std::fs::write(&config, yaml).unwrap();
    let http = reqwest::Client::new();
    let mut first = start(&config, dir.path());
    wait_healthy(&http, &addr).await;
    let mut csv = String::from("phone,tags,first_name\n");
    for i in 0..size {
        csv.push_str(&format!("{},vip,Ana{i}\n", spanish(i)));
    }
    let r = http
        .post(format!("{addr}/api/contacts/import"))
        .bearer_auth(KEY)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{addr}/api/broadcasts"))
        .bearer_auth(KEY)
        .json(&json!({
            "template_id": 45, "sender_id": 1, "audience": { "tags": ["vip"] },
            "variables": { "1": "{{ contact.fields.first_name }}" },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    wait_until("a third of the broadcast", Duration::from_secs(120), || {
        counter.reached() >= size / 3
    })
    .await;
    sigkill(&mut first);
    let at_kill = counter.reached();

    let mut second = start(&config, dir.path());
    wait_healthy(&http, &addr).await;
    wait_until("the whole broadcast", Duration::from_secs(300), || {
        counter.reached() >= size
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    sigkill(&mut second);
    let duplicates = counter.total() - counter.reached();
    eprintln!(
        "broadcast of {size}: killed at {at_kill} sends; {} reached, {duplicates} sent twice",
        counter.reached()
    );
    assert_eq!(counter.reached(), size, "everyone got the message");
    // Sends in flight at the kill were settled by their statuses, not made again.
    assert_eq!(duplicates, 0, "nobody gets the broadcast twice");

    // In the database: every recipient queued once, with its own send; none skipped.
    let store = parley::store::connect(&DatabaseConfig {
        url: db,
        ..Default::default()
    })
    .await
    .unwrap();
    let b = store.broadcasts(None, 10).await.unwrap();
    assert_eq!(b.len(), 1);
    let rows = store
        .broadcast_recipients(b[0].id, 0, 10_000)
        .await
        .unwrap();
    assert_eq!(rows.len(), size);
    assert!(
        rows.iter().all(|r| r.state == "queued"),
        "none pending or skipped"
    );
    let mut sends: Vec<i64> = rows.iter().map(|r| r.outbound_id.unwrap()).collect();
    sends.sort();
    sends.dedup();
    assert_eq!(sends.len(), size, "one send per recipient");
    let counts = store.broadcast_counts(b[0].id).await.unwrap();
    let total: i64 = counts.iter().map(|c| c.count).sum();
    assert_eq!(total, size as i64);
    assert!(
        counts
            .iter()
            .all(|c| matches!(c.status.as_deref(), Some("accepted" | "sent"))),
        "{counts:?}"
    );
}

/// Once the last statuses arrived, the progress counts equal what the sandbox reported.
async fn stats_equal_statuses(app: &TestApp, id: i64, size: usize, expected_held: i64) {
    // Let the last statuses arrive, then the counts equal what the sandbox reported.
    let body = wait_for(app, id, "the last statuses", Duration::from_secs(30), |b| {
        let p = &b["progress"];
        n(&p["read"]) + n(&p["deferred"]) + n(&p["failed"]["131049"]) == size as i64
    })
    .await;
    let p = &body["progress"];
    assert_eq!(n(&p["recipients"]), size as i64 + 3, "{p:#}");
    assert_eq!(n(&p["read"]), size as i64 - expected_held, "{p:#}");
    assert_eq!(
        n(&p["deferred"]) + n(&p["failed"]["131049"]),
        expected_held,
        "{p:#}"
    );
    assert_eq!(
        p["skipped"],
        json!({ "region_held:1": 2, "missing_field:first_name": 1 })
    );
    assert_eq!(
        p["failed"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "131049")
            .count(),
        0,
        "{p:#}"
    );
}

/// The sandbox sender paced at one message a second: a broadcast's sends wait in the
/// outbox after every recipient is queued (the broadcast `done`).
async fn spawn_paced() -> TestApp {
    let mut edits = EDITS.to_vec();
    edits.push((
        "portfolio: main }",
        "portfolio: main, messages_per_second: 1 }",
    ));
    spawn_with(Options {
        extra_yaml: yaml(0),
        config_edits: edits,
        flows: vec![("echo.yaml", ECHO_FLOW)],
        ..Options::default()
    })
    .await
}

/// The broadcast once none of its messages waits in the outbox.
async fn settled(app: &TestApp, id: i64) -> Value {
    wait_for(
        app,
        id,
        "every send settled",
        Duration::from_secs(45),
        |b| n(&b["progress"]["queued"]) == 0,
    )
    .await
}

/// `promo` to `recipients`, once every one of them is queued; its id.
async fn queued_broadcast(app: &TestApp, recipients: &[String]) -> i64 {
    let (status, body) = post(
        app,
        "/api/broadcasts",
        promo(json!({ "recipients": recipients })),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let id = n(&body["broadcast"]["id"]);
    wait_for(
        app,
        id,
        "every recipient queued",
        Duration::from_secs(10),
        |b| n(&b["progress"]["pending"]) == 0,
    )
    .await;
    id
}

#[tokio::test]
async fn sends_waiting_in_the_outbox_honour_a_later_opt_out_and_a_cancel() {
    let app = spawn_paced().await;
    let phones: Vec<String> = (1..=21).map(spanish).collect();
    let mut csv = String::from("phone,first_name\n");
    for p in &phones {
        csv.push_str(&format!("{p},Ana\n"));
    }
    import_csv(&app, csv).await;
    let went = |p: &Value| {
        ["accepted", "sent", "delivered", "read"]
            .iter()
            .map(|k| n(&p[*k]))
            .sum::<i64>()
    };

    // Fifteen recipients at one a second; the last writes STOP while its send waits its
    // turn (queued when the broadcast was planned, so only the send can honour it). Its
    // turn comes fourteen seconds after the first send: room for a loaded machine (with
    // eight, a busy CI machine once planned and sent them all before the STOP was read).
    let first = queued_broadcast(&app, &phones[..15]).await;
    let (status, body) = post_json(
        &app,
        "/sandbox/api/messages",
        json!({ "from": phones[14], "text": "STOP", "sender_id": 3 }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let body = settled(&app, first).await;
    let p = &body["progress"];
    assert_eq!(p["skipped"]["opted_out"], 1, "{body:#}");
    assert_eq!(went(p), 14, "{body:#}");

    // Six more: every one queued (the broadcast is done), most still waiting, and a
    // cancel drops them, including any a claim already holds. What went is read once the
    // cancel has answered: after that, at most the one send already on the wire may land.
    let second = queued_broadcast(&app, &phones[15..]).await;
    let (status, body) = act(&app, second, "cancel").await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("cancelled")),
        "{body:#}"
    );
    let went_at_cancel = went(&show(&app, second).await["progress"]);
    let body = settled(&app, second).await;
    let p = &body["progress"];
    assert!(
        went(p) <= went_at_cancel + 1,
        "after the cancel at most the send already on the wire went ({went_at_cancel} had gone): {body:#}"
    );
    assert!(n(&p["skipped"]["cancelled"]) >= 1, "{body:#}");
    assert_eq!(n(&p["skipped"]["cancelled"]) + went(p), 6, "{body:#}");
    // Once every message has gone or been dropped, there is nothing left to cancel.
    let (status, body) = act(&app, first, "cancel").await;
    assert_eq!(status, 409, "{body:#}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("every message has been sent"),
        "{body:#}"
    );
}

/// The README's own example: `"inactive_for": "20h"` on an imported VIP list reaches the
/// VIPs who never wrote (inactive for as long as anyone) and leaves out one who wrote an
/// hour ago, even to another of the business's numbers (activity is the customer's, not a
/// number's).
#[tokio::test]
async fn inactive_for_reaches_contacts_who_never_wrote_and_counts_every_number() {
    let app = spawn(0).await;
    let clock = app.clock.clone().unwrap();
    import_csv(
        &app,
        "phone,tags,first_name\n+34600000001,vip,Ana\n+34600000002,vip,Bo\n+34600000003,vip,Cy\n"
            .into(),
    )
    .await;
    // Cy writes to the Meta number (sender 1), not the broadcast's sandbox number (3).
    let wrote = (clock.now() - chrono::Duration::hours(1)).timestamp();
    assert_eq!(
        app.post_meta(&meta_text("34600000003", "wamid.cy.1", "hello", wrote))
            .await
            .status(),
        200
    );
    eventually(
        Duration::from_secs(10),
        "Cy's message is stored",
        || async {
            let c = app
                .store
                .find_conversation(1, "+34600000003")
                .await
                .unwrap()?;
            c.last_inbound_at.map(|_| ())
        },
    )
    .await;
    let (status, body) = post(
        &app,
        "/api/broadcasts",
        promo(json!({ "audience": { "tags": ["vip"], "inactive_for": "20h" } })),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let id = n(&body["broadcast"]["id"]);
    let done = wait_for(
        &app,
        id,
        "the broadcast is done",
        Duration::from_secs(30),
        |b| b["broadcast"]["state"] == "done",
    )
    .await;
    assert_eq!(
        n(&done["progress"]["recipients"]),
        2,
        "Ana and Bo only: {done:#}"
    );
    for (phone, reached) in [
        ("+34600000001", true),
        ("+34600000002", true),
        ("+34600000003", false),
    ] {
        let conversation = app.store.find_conversation(3, phone).await.unwrap();
        let sent = match conversation {
            Some(c) => !app
                .store
                .conversation_outbound(c.id, None, 10)
                .await
                .unwrap()
                .is_empty(),
            None => false,
        };
        assert_eq!(sent, reached, "{phone}");
    }
}
