//! Retention end to end (issue 60): on the manual clock, history older than its period is
//! written to the archive folder and deleted (a send's row kept, its content emptied), the
//! newer kept; a run waiting on a customer's answer keeps its state and its timer and goes
//! on; insights and costs read the same before and after; and a process killed in the
//! middle of archiving leaves complete files, each row once, when the next one finishes.

use crate::api::{api_yaml, call};
use crate::crash::{free_port, sigkill, start, wait_healthy};
use crate::helpers::*;
use parley::domain::Clock;
use parley::store::{DynStore, HistoryKind, HistoryRow};
use parley::workers::retention::archive::{read_file, Archive, Record};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

/// Waits for the customer's answer for 10 hours.
pub const ORDER_FLOW: &str = r#"id: order
triggers: [{ keyword: [order] }]
steps:
  - ask: { text: "Your order number?", expect: text, save_as: number, timeout: 10h }
  - send: "Thanks for {{ vars.number }}"
"#;

/// Every kind kept 2 hours, archived into `archive`, looked at every second.
pub fn retention_yaml(archive: &Path) -> String {
    format!(
        "retention: {{ messages: 2h, timers: 2h, events: 2h, deliveries: 2h, model_exchanges: 2h, audit: 2h, interval: 1s, pause: 5ms, batch: 2, dir: \"{}\" }}\n",
        archive.display()
    )
}

/// An app on the manual clock with the echo and order flows, an API key and retention.
pub async fn app_with_retention(archive: &Path) -> TestApp {
    app_on(archive, None).await
}

/// `app_with_retention` on the database `database_url` (the default: a SQLite file).
async fn app_on(archive: &Path, database_url: Option<String>) -> TestApp {
    spawn_with(Options {
        database_url,
        manual_clock: true,
        extra_yaml: format!("{}{}", api_yaml(1000, 1000), retention_yaml(archive)),
        flows: vec![("echo.yaml", ECHO_FLOW), ("order.yaml", ORDER_FLOW)],
        ..Options::default()
    })
    .await
}

/// Sends a customer's text at the app's clock, and waits for the `n`-th send in all.
pub async fn say(app: &TestApp, from: &str, wamid: &str, text: &str, n: usize) {
    let now = app.clock.as_ref().unwrap().now().timestamp();
    assert_eq!(
        app.post_meta(&meta_text(from, wamid, text, now))
            .await
            .status(),
        200
    );
    app.wait_meta_sends(n, Duration::from_secs(10)).await;
}

/// What the database holds of `kind` from before `before`, as the archive will hold it.
pub async fn history(
    store: &DynStore,
    kind: HistoryKind,
    before: chrono::DateTime<chrono::Utc>,
) -> Vec<HistoryRow> {
    store.history_batch(kind, before, 0, 10_000).await.unwrap()
}

/// Every record of `kind` in the archive, in file order, duplicates included.
pub fn archived(archive: &Path, kind: HistoryKind) -> Vec<Record> {
    let mut out = Vec::new();
    for file in Archive::new(archive).files().unwrap() {
        if file.kind == kind {
            read_file(&file.path, |r| {
                out.push(r);
                Ok(())
            })
            .unwrap();
        }
    }
    out
}

/// A checksum of rows by id: the same rows give the same sum whatever their order.
pub fn checksum<'a>(rows: impl IntoIterator<Item = (i64, &'a Value)>) -> String {
    let mut rows: Vec<(i64, String)> = rows
        .into_iter()
        .map(|(id, r)| (id, r.to_string()))
        .collect();
    rows.sort();
    let mut hash = Sha256::new();
    for (id, row) in rows {
        hash.update(format!("{id}\t{row}\n"));
    }
    hex::encode(hash.finalize())
}

/// The rows of messages and replies from before `before`, once there are `inbound` and
/// `outbound` of them (a reply's outcome is recorded just after the provider has it).
pub async fn settled(
    app: &TestApp,
    before: chrono::DateTime<chrono::Utc>,
    inbound: usize,
    outbound: usize,
) -> (Vec<HistoryRow>, Vec<HistoryRow>) {
    eventually(Duration::from_secs(10), "the replies recorded", || async {
        let i = history(&app.store, HistoryKind::InboundMessages, before).await;
        let o = history(&app.store, HistoryKind::OutboundMessages, before).await;
        (i.len() == inbound && o.len() == outbound).then_some((i, o))
    })
    .await
}

async fn numbers(app: &TestApp) -> (Value, Value) {
    let (s1, insights) = call(
        app,
        "GET",
        "/api/insights/flows?since=2026-01-01&until=2026-01-03",
        None,
    )
    .await;
    assert_eq!(s1, 200, "{insights:#}");
    let (s2, costs) = call(
        app,
        "GET",
        "/api/costs?by=flow&since=2025-12-01T00:00:00Z",
        None,
    )
    .await;
    assert_eq!(s2, 200, "{costs:#}");
    (insights, costs)
}

async fn until_archived(app: &TestApp, before: chrono::DateTime<chrono::Utc>) {
    eventually(
        Duration::from_secs(20),
        "the history past its period archived",
        || async {
            let inbound = history(&app.store, HistoryKind::InboundMessages, before).await;
            let outbound = history(&app.store, HistoryKind::OutboundMessages, before).await;
            (inbound.is_empty() && outbound.is_empty()).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_past_its_period_is_archived_and_what_runs_and_counters_need_stays() {
    archived_and_kept(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_too() {
    let Ok(base) = std::env::var("PARLEY_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("PARLEY_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
            "retention on PostgreSQL needs PARLEY_TEST_POSTGRES_URL"
        );
        eprintln!("SKIPPED: retention on PostgreSQL (set PARLEY_TEST_POSTGRES_URL)");
        return;
    };
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
    let name = format!("parley_retention_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("create database {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    archived_and_kept(Some(format!("{}/{name}", base.rsplit_once('/').unwrap().0))).await;
}

/// Three messages and their replies archived after the clock moves 3 hours past a 2-hour
/// period; a run waiting on an answer goes on; insights and costs unchanged.
async fn archived_and_kept(database_url: Option<String>) {
    let archive = tempfile::tempdir().unwrap();
    let app = app_on(archive.path(), database_url).await;
    let clock = app.clock.clone().unwrap();
    say(&app, "34600000001", "wamid.a1", "hi there", 1).await;
    say(&app, "34600000002", "wamid.b1", "order", 2).await;
    say(&app, "34600000001", "wamid.a2", "hi again", 3).await;
    let start = clock.now();
    // What will be past the period once the clock has moved 3 hours.
    let cutoff = start + chrono::Duration::hours(1);
    let (inbound, outbound) = settled(&app, cutoff, 3, 3).await;
    let (insights, costs) = numbers(&app).await;
    assert!(costs.to_string().contains("\"messages\":"), "{costs:#}");

    clock.advance(chrono::Duration::hours(3));
    until_archived(&app, cutoff).await;

    // Read back complete: count and checksum.
    let back = archived(archive.path(), HistoryKind::InboundMessages);
    assert_eq!(back.len(), 3);
    assert_eq!(
        checksum(back.iter().map(|r| (r.id, &r.row))),
        checksum(inbound.iter().map(|r| (r.id, &r.row)))
    );
    let sent = archived(archive.path(), HistoryKind::OutboundMessages);
    assert_eq!(
        checksum(sent.iter().map(|r| (r.id, &r.row))),
        checksum(outbound.iter().map(|r| (r.id, &r.row)))
    );
    assert!(sent
        .iter()
        .any(|r| r.row["payload"]["content"]["body"] == "echo: hi there"));
    assert_eq!(back[0].contact.as_deref(), Some("+34600000001"));

    // Gone from the database; the sends' rows stay for the counters, without their text.
    let a = app
        .store
        .find_conversation(1, "+34600000001")
        .await
        .unwrap()
        .unwrap();
    assert!(app
        .store
        .conversation_inbound(a.id, None, 10)
        .await
        .unwrap()
        .is_empty());
    let kept = app
        .store
        .conversation_outbound(a.id, None, 10)
        .await
        .unwrap();
    assert_eq!(kept.len(), 2);
    assert!(format!("{:?}", kept[0].message.content).contains("(archived)"));
    assert_eq!(
        numbers(&app).await,
        (insights, costs),
        "insights and costs unchanged"
    );

    // The waiting run kept its state and its timer: the answer goes on with it.
    say(&app, "34600000002", "wamid.b2", "A-123", 4).await;
    let sends = app.meta_sends().await;
    assert_eq!(body_text(&sends[3]), "Thanks for A-123");
    // The newer message stays where it is.
    let b = app
        .store
        .find_conversation(1, "+34600000002")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        app.store
            .conversation_inbound(b.id, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    let page = metrics_page(&app.http, &app.addr).await;
    assert!(
        metric_value(
            &page,
            "parley_retention_archived_rows_total{kind=\"inbound_messages\"}"
        ) >= 3.0,
        "{page}"
    );
    assert!(metric_value(&page, "parley_retention_last_run_timestamp_seconds") > 0.0);
}

/// The real binary archives 40 old messages two rows at a time and is killed once some
/// files are written; the next process finishes: every row is in the archive exactly once
/// (no file written twice, no `.part` counted), and none is left in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_while_archiving_leaves_complete_files_and_no_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let db = format!("sqlite://{}", dir.path().join("parley.db").display());
    let meta = wiremock::MockServer::start().await;
    mount_meta_ok(&meta).await;
    // 40 messages from 2025, answered, then the store is closed for the binary.
    {
        let store = parley::store::connect(&parley::config::DatabaseConfig {
            url: db.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
        old_processed_messages(&store, 40).await;
    }
    let expected = {
        let store = parley::store::connect(&parley::config::DatabaseConfig {
            url: db.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
        history(&store, HistoryKind::InboundMessages, chrono::Utc::now()).await
    };
    assert_eq!(expected.len(), 40);
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    std::fs::write(dir.path().join("flows/echo.yaml"), ECHO_FLOW).unwrap();
    let port = free_port();
    let yaml = retention_yaml(&archive).replace("pause: 5ms", "pause: 100ms");
    let config = process_config(dir.path(), &db, &meta.uri(), port, &yaml);
    let addr = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut first = start(&config, dir.path());
    wait_healthy(&http, &addr).await;
    wait_until("some archive files", Duration::from_secs(20), || {
        archived(&archive, HistoryKind::InboundMessages).len() >= 6
    })
    .await;
    sigkill(&mut first);
    let partial = archived(&archive, HistoryKind::InboundMessages).len();
    assert!(partial < 40, "killed before the end ({partial} archived)");

    let _second = start(&config, dir.path());
    wait_healthy(&http, &addr).await;
    wait_until("every row archived", Duration::from_secs(30), || {
        archived(&archive, HistoryKind::InboundMessages).len() >= 40
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let back = archived(&archive, HistoryKind::InboundMessages);
    let mut ids: Vec<i64> = back.iter().map(|r| r.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), back.len(), "a row archived twice");
    assert_eq!(
        checksum(back.iter().map(|r| (r.id, &r.row))),
        checksum(expected.iter().map(|r| (r.id, &r.row)))
    );
    let left: i64 = rusqlite::Connection::open(dir.path().join("parley.db"))
        .unwrap()
        .query_row(
            "select count(*) from conversation_events where kind = 'message'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0);
}

/// `n` messages of 2025 from `n` customers, each processed.
async fn old_processed_messages(store: &DynStore, n: u32) {
    use parley::store::{IngestItem, IngestOutcome, StepCommit};
    let at = chrono::DateTime::parse_from_rfc3339("2025-03-01T10:00:00Z")
        .unwrap()
        .to_utc();
    for i in 0..n {
        let phone = parley::domain::PhoneNumber::parse(&format!("+3460000{i:04}")).unwrap();
        let message = parley::domain::InboundMessage {
            provider_message_id: format!("wamid.old.{i}"),
            from: parley::domain::ContactRef::Phone(phone),
            profile_name: None,
            username: None,
            timestamp: Some(at),
            content: parley::domain::InboundContent::Text {
                body: format!("old message {i}"),
            },
            context: None,
            referral: None,
        };
        let outcome = store
            .ingest(&[IngestItem::Message {
                sender_id: 1,
                message,
                received_at: at,
            }])
            .await
            .unwrap();
        let IngestOutcome::Stored {
            event_id,
            conversation_id,
        } = outcome[0]
        else {
            panic!("{outcome:?}")
        };
        store
            .claim_conversations("seed", at, Duration::from_secs(30), 100)
            .await
            .unwrap();
        store
            .commit_step(&StepCommit {
                conversation_id,
                owner: "seed".into(),
                event_id,
                state: Default::default(),
                contact_patch: None,
                outbound: vec![],
                timers: vec![],
                cancel_timers: vec![],
                now: at,
                queued_at: at,
                release: true,
                insights: Default::default(),
                events: Vec::new(),
                hand_until: None,
            })
            .await
            .unwrap();
    }
}
