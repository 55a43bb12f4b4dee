//! Scheduled audience runs through the real binary: a run killed half-way resumes and
//! finishes without sending twice to anyone (beyond sends in flight at the kill), with
//! bounded memory; and two processes on one PostgreSQL fire a schedule once and finish a
//! run whose owner was killed.
//!
//! The audience size is `PARLEY_AUDIENCE_SIZE` (default 3,000 to keep CI fast; the README
//! reports the 100,000 run).

use crate::crash::{free_port, sigkill, start, wait_healthy};
use crate::helpers::*;
use parley::config::DatabaseConfig;
use parley::domain::{ContactRef, PhoneNumber};
use std::time::Duration;

fn audience_size() -> usize {
    std::env::var("PARLEY_AUDIENCE_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// A flow that fires once, a few seconds from now (UTC), for everyone.
fn schedule_flow(at: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Timelike;
    format!(
        "id: blast\nschedule:\n  cron: \"{} {} {} * * *\"\n  sender: 1\nsteps:\n  - send:\n      text: \"News!\"\n      if_window_closed: {{ template: menu_reminder, variables: {{ \"1\": \"{{{{ contact.name | default: friend }}}}\" }} }}\n",
        at.second(),
        at.minute(),
        at.hour()
    )
}

async fn seed(db_url: &str, n: usize) {
    let store = parley::store::connect(&DatabaseConfig {
        url: db_url.to_string(),
        ..Default::default()
    })
    .await
    .unwrap();
    let now = chrono::Utc::now();
    for i in 0..n {
        let phone = PhoneNumber::parse(&format!("+1555{i:07}")).unwrap();
        store
            .ensure_conversation(1, &ContactRef::Phone(phone), None, now)
            .await
            .unwrap();
    }
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn write_config(
    dir: &std::path::Path,
    db: &str,
    meta: &str,
    port: u16,
    flow: &str,
) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("flows")).unwrap();
    std::fs::write(dir.join("flows/blast.yaml"), flow).unwrap();
    process_config(dir, db, meta, port, "")
}

#[tokio::test]
async fn an_audience_run_killed_half_way_resumes_without_sending_twice() {
    let n = audience_size();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("parley.db").display());
    seed(&db, n).await;
    let counter = ReplyLog::default();
    let meta = counter.serve().await;
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let fire_at = chrono::Utc::now() + chrono::Duration::seconds(4);
    let config = write_config(dir.path(), &db, &meta, port, &schedule_flow(fire_at));
    let http = reqwest::Client::new();

    let mut first = start(&config, dir.path());
    wait_healthy(&http, &addr).await;
    wait_until("a third of the audience", Duration::from_secs(120), || {
        counter.reached() >= n / 3
    })
    .await;
    let rss_first = peak_rss_kib(first.id());
    sigkill(&mut first);
    let at_kill = counter.reached();

    let mut second = start(&config, dir.path());
    wait_healthy(&http, &addr).await;
    wait_until("the whole audience", Duration::from_secs(300), || {
        counter.reached() >= n
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_second = peak_rss_kib(second.id());
    sigkill(&mut second);
    let duplicates = counter.total() - counter.reached();
    eprintln!(
        "audience {n}: reached {} (killed at {at_kill}), duplicates {duplicates}, peak RSS {:?} KiB then {:?} KiB",
        counter.reached(),
        rss_first,
        rss_second
    );
    assert_eq!(counter.reached(), n, "everyone got the message");
    // Only sends in flight at the kill can repeat: at most the outbox's concurrency.
    assert!(duplicates <= 64, "{duplicates} duplicates");
    assert!(
        rss_second.unwrap_or(0) < 150 * 1024,
        "peak RSS {rss_second:?} KiB"
    );
}

#[tokio::test]
async fn two_processes_on_postgres_fire_once_and_finish_a_run_whose_owner_was_killed() {
    let Ok(base) = std::env::var("PARLEY_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED: two-process PostgreSQL test (set PARLEY_TEST_POSTGRES_URL)");
        return;
    };
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
    let name = format!("parley_two_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("create database {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let db = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    let n = audience_size();
    seed(&db, n).await;
    let counter = ReplyLog::default();
    let meta = counter.serve().await;
    let dir = tempfile::tempdir().unwrap();
    let fire_at = chrono::Utc::now() + chrono::Duration::seconds(5);
    let flow = schedule_flow(fire_at);
    let (pa, pb) = (free_port(), free_port());
    let (ca, cb) = (
        write_config(dir.path(), &db, &meta, pa, &flow),
        write_config(dir.path(), &db, &meta, pb, &flow),
    );
    // Sends that time out are repeated (the provider may have taken them), which the
    // duplicate bound below does not allow for: two debug builds, PostgreSQL and this
    // test's double on a slow 2-core machine sometimes answer a send in over 2 s.
    for config in [&ca, &cb] {
        let yaml = std::fs::read_to_string(config).unwrap();
        assert!(yaml.contains("send_timeout: 2s, lease: 2s"), "{yaml}");
        let yaml = yaml.replace(
            "send_timeout: 2s, lease: 2s",
            "send_timeout: 10s, lease: 2s",
        );
        std::fs::write(config, yaml).unwrap();
    }
    let http = reqwest::Client::new();
    let mut a = start(&ca, dir.path());
    let mut b = start(&cb, dir.path());
    wait_healthy(&http, &format!("http://127.0.0.1:{pa}")).await;
    wait_healthy(&http, &format!("http://127.0.0.1:{pb}")).await;
    wait_until(
        "a quarter of the audience",
        Duration::from_secs(120),
        || counter.reached() >= n / 4,
    )
    .await;

    // Kill whichever process runs the audience (its pid starts the lease owner).
    let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
    let owner: Option<String> = sqlx::query_scalar(
        "select lease_owner from schedule_fires where not anchor and done_at is null",
    )
    .fetch_optional(&mut conn)
    .await
    .unwrap()
    .flatten();
    let killed = match owner
        .as_deref()
        .and_then(|o| o.split('-').next())
        .and_then(|p| p.parse::<u32>().ok())
    {
        Some(pid) if pid == b.id() => {
            sigkill(&mut b);
            "b"
        }
        _ => {
            sigkill(&mut a);
            "a"
        }
    };
    wait_until(
        "the survivor to finish the audience",
        Duration::from_secs(300),
        || counter.reached() >= n,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let fires: i64 = sqlx::query_scalar("select count(*) from schedule_fires where not anchor")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let done: i64 = sqlx::query_scalar(
        "select count(*) from schedule_fires where not anchor and done_at is not null",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let duplicates = counter.total() - counter.reached();
    eprintln!(
        "two processes, audience {n}: killed {killed}, fires {fires}, duplicates {duplicates}"
    );
    for child in [&mut a, &mut b] {
        sigkill(child);
    }
    drop(conn);
    let _ = sqlx::query(&format!("drop database {name} with (force)"))
        .execute(&mut admin)
        .await;
    assert_eq!(fires, 1, "the schedule fired once across both processes");
    assert_eq!(done, 1, "the fire was finished by the survivor");
    assert_eq!(counter.reached(), n);
    assert!(duplicates <= 64, "{duplicates} duplicates");
}
