//! `parley-year --archive`: Parley's own retention pass (`workers::retention`'s
//! `Archiver::run_pass`, the one the daemon runs) over the year, events out kept 90 days,
//! while the hot-path writer runs; then the archive read back and compared with what was
//! in the database: the count, and a checksum of every row's id, kind and data (summed,
//! so the order of the files does not matter).

use crate::probe::Percentiles;
use crate::probe::Probe;
use parley::config::RetentionConfig;
use parley::domain::ManualClock;
use parley::store::postgres::PgStore;
use parley::store::DynStore;
use parley::workers::retention::archive::Archive;
use parley::workers::retention::pass::Archiver;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the pass did and what the archive gave back.
pub struct Archived {
    pub seconds: f64,
    pub archived: u64,
    pub removed: u64,
    pub during: Percentiles,
    pub expected: (u64, u64),
    pub read_back: (u64, u64),
}

/// One row's contribution to the checksum.
fn row_sum(id: i64, kind: &str, data: &Value) -> u64 {
    let digest = Sha256::digest(format!("{id}|{kind}|{data}").as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// The count and checksum of the events out older than `cutoff`, read from the database.
async fn expected(
    pool: &PgPool,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<(u64, u64)> {
    let (mut n, mut sum, mut after) = (0u64, 0u64, 0i64);
    loop {
        let rows: Vec<(i64, String, Value)> = sqlx::query_as(
            "select id, kind, data from events_out where at < $1 and id > $2
             order by id limit 50000",
        )
        .bind(cutoff)
        .bind(after)
        .fetch_all(pool)
        .await?;
        let Some(last) = rows.last() else {
            return Ok((n, sum));
        };
        after = last.0;
        for (id, kind, data) in &rows {
            n += 1;
            sum = sum.wrapping_add(row_sum(*id, kind, data));
        }
    }
}

/// The count and checksum of the archive's events out.
fn read_back(archive: &Archive) -> anyhow::Result<(u64, u64)> {
    let files = archive.files()?;
    let mut sum = 0u64;
    let n = archive.read(
        &files,
        |r| r.kind == "events_out",
        |r| {
            let kind = r
                .row
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let data = r.row.get("data").cloned().unwrap_or(Value::Null);
            sum = sum.wrapping_add(row_sum(r.id, kind, &data));
            Ok(())
        },
    )?;
    Ok((n, sum))
}

/// Runs one retention pass with events out kept `days` days, archiving to `dir`, with the
/// hot-path writer at `rate`/s on `url`.
pub async fn run(
    store: &PgStore,
    pool: &PgPool,
    url: &str,
    dir: &std::path::Path,
    days: u64,
    rate: u32,
) -> anyhow::Result<Archived> {
    // One instant for the pass and for what it should take: the pass's clock stands still.
    let now = chrono::Utc::now();
    let cutoff = now - chrono::TimeDelta::days(days as i64);
    let expected = expected(pool, cutoff).await?;
    let archiver = Archiver {
        store: Arc::new(store.clone()) as DynStore,
        archive: Archive::new(dir),
        config: RetentionConfig {
            events: Some(Duration::from_secs(days * 24 * 3600)),
            batch: 10_000,
            ..RetentionConfig::default()
        },
        clock: Arc::new(ManualClock::new(now)),
        owner: "parley-bench".into(),
    };
    let probe = Probe::start(url, "events_out", rate).await?;
    let t0 = Instant::now();
    let report = archiver
        .run_pass(&tokio_util::sync::CancellationToken::new())
        .await?;
    let seconds = t0.elapsed().as_secs_f64();
    let during = probe.finish().await?;
    let archive = archiver.archive.clone();
    let read_back = tokio::task::spawn_blocking(move || read_back(&archive)).await??;
    Ok(Archived {
        seconds,
        archived: report.archived.values().sum(),
        removed: report.removed.values().sum(),
        during,
        expected,
        read_back,
    })
}
