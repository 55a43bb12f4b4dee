//! Faults under load: SIGKILL, a provider outage, triplicated webhooks, two processes on
//! one PostgreSQL. Set `PARLEY_LONG_FAULTS=1` for the long variants (a 30 s outage, more
//! messages).

use crate::crash::{free_port, post_meta_to, sigkill, start, wait_healthy};
use crate::helpers::*;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

fn long() -> bool {
    std::env::var("PARLEY_LONG_FAULTS").is_ok_and(|v| v == "1")
}

/// Sends `texts` (contact, text) open loop at `rate` per second; returns those acknowledged.
async fn send_open_loop(
    addr: &str,
    texts: &[(String, String)],
    rate: u32,
    acked_so_far: Option<Arc<AtomicUsize>>,
) -> Vec<String> {
    let http = reqwest::Client::new();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, (from, text)) in texts.iter().enumerate() {
        let due = Duration::from_secs_f64(i as f64 / f64::from(rate));
        tokio::time::sleep_until((start + due).into()).await;
        let body = meta_text(from, &format!("wamid.{text}"), text, now_unix());
        let (http, url, text) = (http.clone(), format!("{addr}/webhooks/meta"), text.clone());
        let counter = acked_so_far.clone();
        tasks.push(tokio::spawn(async move {
            let ok = http
                .post(url)
                .header("x-hub-signature-256", sign_meta(&body))
                .body(body)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if let (true, Some(c)) = (ok, counter) {
                c.fetch_add(1, Ordering::SeqCst);
            }
            ok.then_some(text)
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        if let Ok(Some(text)) = t.await {
            acked.push(text);
        }
    }
    acked
}

fn messages(n: usize, contacts: usize, tag: &str) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("4477009{:05}", i % contacts),
                format!("hi {tag}-{i}"),
            )
        })
        .collect()
}

fn echo_config(dir: &std::path::Path, db: &str, meta: &str, port: u16) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("flows")).unwrap();
    std::fs::write(
        dir.join("flows/echo.yaml"),
        "id: echo\ntriggers: [{keyword: [hi]}]\nsteps: [{send: \"{{ message.text }}\"}]\n",
    )
    .unwrap();
    process_config(dir, db, meta, port, "")
}

#[tokio::test]
async fn sigkill_under_load_loses_no_acknowledged_message() {
    let n = if long() { 4000 } else { 1200 };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("parley.db").display());
    let replies = ReplyLog::default();
    let meta = replies.serve().await;
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let config = echo_config(dir.path(), &db, &meta, port);
    let http = reqwest::Client::new();
    let msgs = messages(n, 200, "kill");
    let mut parley = start(&config, dir.path());
    wait_healthy(&http, &addr).await;
    // Kill while the load is running; requests after the kill are refused (not acked).
    let acked_so_far = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (addr, msgs, counter) = (addr.clone(), msgs.clone(), acked_so_far.clone());
        tokio::spawn(async move { send_open_loop(&addr, &msgs, 400, Some(counter)).await })
    };
    // Kill once a quarter of the load is acknowledged, with the rest still coming.
    wait_until(
        "a quarter of the load acknowledged",
        Duration::from_secs(60),
        || acked_so_far.load(Ordering::SeqCst) >= n / 4,
    )
    .await;
    sigkill(&mut parley);
    let acked = sender.await.unwrap();
    let mut parley = start(&config, dir.path());
    wait_healthy(&http, &addr).await;
    wait_until(
        "a reply to every acknowledged message",
        Duration::from_secs(60),
        || {
            let c = replies.counts();
            acked.iter().all(|t| c.contains_key(t))
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    sigkill(&mut parley);
    let counts = replies.counts();
    let lost = acked.iter().filter(|t| !counts.contains_key(*t)).count();
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    eprintln!("SIGKILL under load: {n} sent, {} acknowledged, {lost} lost, {duplicates} duplicate replies", acked.len());
    assert!(
        acked.len() >= n / 4,
        "the load reached Parley before the kill"
    );
    assert_eq!(lost, 0);
    assert!(
        duplicates <= 64,
        "duplicates are bounded by the sends in flight: {duplicates}"
    );
}

/// 503 for the first half of the outage, then answers slower than the send timeout, then
/// normal service.
struct Outage {
    start: Instant,
    length: Duration,
}

impl Respond for Outage {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let t = self.start.elapsed();
        if t < self.length / 2 {
            ResponseTemplate::new(503)
        } else if t < self.length {
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(3))
                .set_body_json(serde_json::json!({"messages": [{"id": "wamid.late"}]}))
        } else {
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"messages": [{"id": format!("wamid.{}", uuid::Uuid::new_v4().simple())}]}))
        }
    }
}

#[tokio::test]
async fn a_provider_outage_delays_but_loses_nothing_and_keeps_each_contacts_order() {
    let outage = if long() {
        Duration::from_secs(30)
    } else {
        Duration::from_secs(6)
    };
    let app = spawn_with(Options {
        config_edits: vec![(
            "retry: { initial: 20ms, max_delay: 200ms }",
            "retry: { initial: 50ms, max_delay: 1s, max_attempts: 1000 }",
        )],
        ..Default::default()
    })
    .await;
    app.meta.reset().await;
    let started = Instant::now();
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(Outage {
            start: started,
            length: outage,
        })
        .mount(&app.meta)
        .await;
    for round in 0..10 {
        for c in 0..5 {
            let body = meta_text(
                &format!("44770090{c:04}"),
                &format!("wamid.out.{c}.{round}"),
                &format!("hi {c} {round}"),
                now_unix(),
            );
            assert_eq!(app.post_meta(&body).await.status(), 200);
        }
    }
    let recovered_at = outage + Duration::from_secs(3);
    let deadline = Instant::now() + outage + Duration::from_secs(60);
    loop {
        let after: Vec<serde_json::Value> = app
            .meta
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .skip_while(|_| false)
            .filter_map(|r| serde_json::from_slice(&r.body).ok())
            .collect();
        let unique: HashSet<String> = after.iter().map(|b| body_text(b).to_string()).collect();
        if unique.len() >= 50 && started.elapsed() > recovered_at {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not everything was delivered after the outage"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every message reached the provider after it recovered, each contact's in order.
    let requests = app.meta.received_requests().await.unwrap_or_default();
    let total = requests.len();
    let mut delivered: HashMap<String, Vec<String>> = HashMap::new();
    for r in &requests {
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let text = body_text(&body).to_string();
        let list = delivered
            .entry(body["to"].as_str().unwrap().to_string())
            .or_default();
        if list.last() != Some(&text) {
            list.push(text);
        }
    }
    for c in 0..5 {
        let expected: Vec<String> = (0..10).map(|r| format!("echo: hi {c} {r}")).collect();
        let got = &delivered[&format!("44770090{c:04}")];
        // Attempts repeat the head of the line until it succeeds; order never goes back.
        let mut firsts: Vec<String> = Vec::new();
        for t in got {
            if !firsts.contains(t) {
                firsts.push(t.clone());
            }
        }
        assert_eq!(firsts, expected, "contact {c}");
    }
    eprintln!(
        "provider outage of {outage:?}: 50 messages delivered in order after {total} attempts"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn every_webhook_delivered_three_times_gives_no_duplicate_reply() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for i in 0..150 {
        let body = meta_text(
            &format!("4477009{:05}", i % 30),
            &format!("wamid.tri.{i}"),
            &format!("hi tri {i}"),
            now_unix(),
        );
        for _ in 0..3 {
            let (http, url, body) = (
                app.http.clone(),
                format!("{}/webhooks/meta", app.addr),
                body.clone(),
            );
            tasks.push(tokio::spawn(async move {
                http.post(url)
                    .header("x-hub-signature-256", sign_meta(&body))
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
            }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    app.wait_meta_sends(150, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sends = app.meta_sends().await;
    let unique: HashSet<&str> = sends.iter().map(body_text).collect();
    assert_eq!(sends.len(), 150, "one reply per message");
    assert_eq!(unique.len(), 150);
    app.shutdown().await;
}

#[tokio::test]
async fn two_processes_on_postgres_under_load_lose_nothing_and_duplicate_nothing() {
    let Ok(base) = std::env::var("PARLEY_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED: two-process PostgreSQL load test (set PARLEY_TEST_POSTGRES_URL)");
        return;
    };
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
    let name = format!("parley_load_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("create database {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let db = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    let replies = ReplyLog::default();
    let meta = replies.serve().await;
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (free_port(), free_port());
    let (ca, cb) = (
        echo_config(dir.path(), &db, &meta, pa),
        echo_config(dir.path(), &db, &meta, pb),
    );
    let http = reqwest::Client::new();
    let (mut a, mut b) = (start(&ca, dir.path()), start(&cb, dir.path()));
    let (aa, ab) = (
        format!("http://127.0.0.1:{pa}"),
        format!("http://127.0.0.1:{pb}"),
    );
    wait_healthy(&http, &aa).await;
    wait_healthy(&http, &ab).await;
    let n = if long() { 3000 } else { 600 };
    let msgs = messages(n, 60, "two");
    let (even, odd): (Vec<_>, Vec<_>) = msgs
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let even: Vec<_> = even.into_iter().map(|(_, m)| m).collect();
    let odd: Vec<_> = odd.into_iter().map(|(_, m)| m).collect();
    let (acked_a, acked_b) = tokio::join!(
        send_open_loop(&aa, &even, 150, None),
        send_open_loop(&ab, &odd, 150, None)
    );
    let acked: Vec<String> = acked_a.into_iter().chain(acked_b).collect();
    wait_until("every reply", Duration::from_secs(60), || {
        let c = replies.counts();
        acked.iter().all(|t| c.contains_key(t))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    sigkill(&mut a);
    sigkill(&mut b);
    let _ = sqlx::query(&format!("drop database {name} with (force)"))
        .execute(&mut admin)
        .await;
    let counts = replies.counts();
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    eprintln!(
        "two processes on PostgreSQL: {n} sent, {} acknowledged, {duplicates} duplicates",
        acked.len()
    );
    assert_eq!(acked.len(), n, "every webhook acknowledged");
    assert_eq!(duplicates, 0);
}

/// Two processes on one PostgreSQL, neither polling for a minute: the one that takes the
/// webhooks has one inbox slot, and one webhook brings four customers' messages, so the
/// statement that stores them can lease only one conversation to it. The three it has no
/// room for are announced by that statement, and the other process claims them at once
/// (its own poll is a minute away).
/// The flow computes a little before it replies (thirty short scripts; a step waiting on a
/// service or a model gives its slot back, so only work keeps a slot busy), so that A,
/// which hears its own announcement too, is still busy when B claims. One batch decides
/// what A has room for, not timing. (On a loaded CI machine these scripts once ran past
/// a wall-clock budget and never replied; the budget is CPU time now, `flows::script`.)
#[tokio::test]
async fn work_one_process_has_no_room_for_is_claimed_by_another_at_once() {
    let Some(db) = crate::postgres::fresh_database().await else {
        return;
    };
    let replies = ReplyLog::default();
    let meta = replies.serve().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    // Each script stays far inside the 250 ms a script may take, even on a loaded machine.
    let busy = "  - script: { code: \"let x = 0; while x < 1000 { x += 1; }\" }\n".repeat(30);
    std::fs::write(
        dir.path().join("flows/slow.yaml"),
        format!(
            "id: slow\ntriggers: [{{keyword: [hi]}}]\nsteps:\n{busy}  - send: \"{{{{ message.text }}}}\"\n"
        ),
    )
    .unwrap();
    let config = |port: u16, inbox: &str| {
        let path = process_config(dir.path(), &db, &meta, port, "");
        let yaml = std::fs::read_to_string(&path)
            .unwrap()
            .replace("inbox: { poll_interval: 50ms, lease: 2s }", inbox);
        assert!(yaml.contains(inbox));
        std::fs::write(&path, yaml).unwrap();
        path
    };
    let (pa, pb) = (free_port(), free_port());
    let ca = config(
        pa,
        "inbox: { poll_interval: 60s, lease: 30s, concurrency: 1 }",
    );
    let cb = config(pb, "inbox: { poll_interval: 60s, lease: 30s }");
    let http = reqwest::Client::new();
    let (mut a, mut b) = (start(&ca, dir.path()), start(&cb, dir.path()));
    let aa = format!("http://127.0.0.1:{pa}");
    wait_healthy(&http, &aa).await;
    wait_healthy(&http, &format!("http://127.0.0.1:{pb}")).await;
    // Past the first claims both processes make when they start.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let texts: Vec<String> = (0..4).map(|i| format!("hi room-{i}")).collect();
    let batch = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
            "contacts": (0..4).map(|i| serde_json::json!({
                "profile": { "name": "Tester" }, "wa_id": format!("44770090000{i}")
            })).collect::<Vec<_>>(),
            "messages": texts.iter().enumerate().map(|(i, text)| serde_json::json!({
                "from": format!("44770090000{i}"), "id": format!("wamid.{text}"),
                "timestamp": now_unix().to_string(), "type": "text", "text": { "body": text }
            })).collect::<Vec<_>>()
        }}]}]
    });
    let body = serde_json::to_vec(&batch).unwrap();
    let t0 = Instant::now();
    let status = post_meta_to(&http, &aa, body).await;
    assert_eq!(status, 200, "the batch acknowledged");
    let acked = texts;
    wait_until("every reply", Duration::from_secs(30), || {
        let c = replies.counts();
        acked.iter().all(|t| c.contains_key(t))
    })
    .await;
    let took = t0.elapsed();
    // What each process counted: A handed one conversation to its inbox and left the
    // three others; B heard of them.
    let page_a = metrics_page(&http, &aa).await;
    let handed = metric_value(&page_a, "parley_inbox_handoffs_total{outcome=\"handed\"}");
    let left = metric_value(&page_a, "parley_inbox_handoffs_total{outcome=\"left\"}");
    let page_b = metrics_page(&http, &format!("http://127.0.0.1:{pb}")).await;
    let heard = metric_value(&page_b, "parley_inbox_announcements_total");
    let sent_by_b: f64 = page_b
        .lines()
        .filter(|l| l.starts_with("parley_messages_sent_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    sigkill(&mut a);
    sigkill(&mut b);
    eprintln!("two processes on PostgreSQL, one with no inbox room: four replies in {took:?}, {sent_by_b} by the other");
    assert_eq!((handed, left), (1.0, 3.0), "handed {handed}, left {left}");
    assert!(heard >= 1.0, "announcements heard by B: {heard}");
    // B took what A left: only the announcement tells B of it within the minute its own
    // poll is away (without it A answered all four, about 8 s later).
    assert!(
        sent_by_b >= 1.0,
        "the other process answered none of the conversations A had no room for ({took:?})"
    );
}
