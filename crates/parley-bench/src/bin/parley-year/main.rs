//! `parley-year`: a year of history on PostgreSQL, and what retention at 90 days
//! costs with the tables partitioned by month (issue 60) against the same rows in one table.
//!
//! On a fresh database migrated by Parley's own store (so `events_out` is partitioned by
//! month, `store/postgres/partitions.rs`), it writes `--rows` events out of 20 numbers
//! spread over the last 365 days (`year_data`), and the same rows into a table that is not
//! partitioned. Then, with a hot-path writer inserting one event at a time at `--rate`/s
//! (`year_probe`), it removes everything older than `--retention-days` twice: from the flat
//! table row by row in batches (as a retention without partitions must, then the `vacuum`
//! that would reuse the space), and from the partitioned one by dropping the whole months
//! (`PgStore::drop_months_before`) and deleting only the rest of the month the cut falls
//! in. It reports the time each took, the writer's latency before and during each, the
//! tables' sizes before and after, and checks that both removed the same rows and kept
//! every newer one.
//!
//! ```sh
//! cargo run --release --bin parley-year -- --postgres-url postgres://root@127.0.0.1:5432/postgres --rows 10000000
//! cargo run --release --bin parley-year -- --postgres-url postgres://root@127.0.0.1:5432/postgres --rows 2000000 --archive
//! ```
//!
//! With `--archive` it runs Parley's own retention pass instead (`year_archive`): the
//! writer's latency while it archives, the table's size before and after, and the archive
//! read back complete (count and checksum).

mod archive;
mod data;
mod probe;

use anyhow::{bail, Context};
use chrono::{TimeDelta, Utc};
use clap::Parser;
use data::FLAT;
use parley::config::DatabaseConfig;
use parley::store::postgres::PgStore;
use probe::Probe;
use sqlx::{Connection, PgConnection, PgPool};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "parley-year",
    about = "A year of history on PostgreSQL: retention by dropping months against deleting rows"
)]
struct YearArgs {
    /// Admin URL of a PostgreSQL server; a database is created there and dropped after.
    #[arg(long, env = "PARLEY_BENCH_POSTGRES_URL")]
    postgres_url: String,
    /// Events out written over the year.
    #[arg(long, default_value_t = 10_000_000)]
    rows: u64,
    /// Numbers (senders) the year's traffic is spread over.
    #[arg(long, default_value_t = 20)]
    senders: u32,
    /// History older than this many days is removed.
    #[arg(long, default_value_t = 90)]
    retention_days: i64,
    /// Hot-path inserts per second during each phase.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Rows per delete statement of the row-by-row retention.
    #[arg(long, default_value_t = 10_000)]
    batch: i64,
    /// Instead of comparing with a flat table: run Parley's own retention pass (events out
    /// kept --retention-days) while the hot-path writer runs, and read the archive back.
    #[arg(long)]
    archive: bool,
    /// Keep the database (and the archive folder) after the run.
    #[arg(long)]
    keep: bool,
}

fn main() -> anyhow::Result<()> {
    let args = YearArgs::parse();
    if args.rows == 0 || args.senders == 0 || args.retention_days < 1 || args.batch < 1 {
        bail!("--rows, --senders, --retention-days and --batch must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let name = format!("parley_year_{}", std::process::id());
    runtime.block_on(async {
        let url = create_database(&args.postgres_url, &name).await?;
        let outcome = run(&args, &url).await;
        if !args.keep {
            drop_database(&args.postgres_url, &name).await?;
        } else {
            println!("kept database {name}");
        }
        outcome
    })
}

async fn run(args: &YearArgs, url: &str) -> anyhow::Result<()> {
    let store = PgStore::connect(&DatabaseConfig {
        url: url.to_string(),
        max_connections: 2,
        ..DatabaseConfig::default()
    })
    .await
    .context("opening the database with Parley's store (migrations, months ahead)")?;
    let now = Utc::now();
    store.ensure_months(now - TimeDelta::days(366), now).await?;
    let pool = PgPool::connect(url).await?;
    println!(
        "parley-year: {} events out of {} numbers over 365 days, retention {} days, hot-path writer {}/s, batches of {}",
        args.rows, args.senders, args.retention_days, args.rate, args.batch
    );
    let written_s = data::write_year(&pool, args.rows, args.senders).await?;
    if args.archive {
        println!(
            "  written: {:.1} s ({:.0} rows/s) into the partitioned table",
            written_s,
            args.rows as f64 / written_s
        );
        let outcome = archive_phase(args, &store, &pool, url).await;
        pool.close().await;
        return outcome;
    }
    let flat_s = data::write_flat_copy(&pool).await?;
    println!(
        "  written: {:.1} s ({:.0} rows/s) into the partitioned table; {:.1} s for the flat copy with its indexes",
        written_s,
        args.rows as f64 / written_s,
        flat_s
    );
    let cutoff = Utc::now() - TimeDelta::days(args.retention_days);
    let (old, kept) = data::counts(&pool, "events_out", cutoff).await?;
    let sizes_before = data::sizes(&pool).await?;
    println!(
        "  before: {old} rows older than the cut, {kept} newer; partitioned {}, flat {}",
        mb(sizes_before.0),
        mb(sizes_before.1)
    );

    println!("hot-path inserts (one event out each):");
    let idle_flat = probe::idle(url, FLAT, args.rate, 10.0).await?;
    println!(
        "{}",
        probe::line("flat table, nothing else running", &idle_flat)
    );
    let idle_parted = probe::idle(url, "events_out", args.rate, 10.0).await?;
    println!(
        "{}",
        probe::line("partitioned, nothing else running", &idle_parted)
    );

    let probe = Probe::start(url, FLAT, args.rate).await?;
    let t0 = Instant::now();
    let (flat_gone, statements) = data::delete_in_batches(&pool, FLAT, cutoff, args.batch).await?;
    let delete_s = t0.elapsed().as_secs_f64();
    let during_delete = probe.finish().await?;
    println!(
        "{}",
        probe::line("flat table, while deleting row by row", &during_delete)
    );
    let after_delete = data::sizes(&pool).await?.1;
    let probe = Probe::start(url, FLAT, args.rate).await?;
    let t0 = Instant::now();
    sqlx::query(&format!("vacuum {FLAT}"))
        .execute(&pool)
        .await?;
    let vacuum_s = t0.elapsed().as_secs_f64();
    let during_vacuum = probe.finish().await?;
    println!(
        "{}",
        probe::line("flat table, while vacuuming", &during_vacuum)
    );
    let after_vacuum = data::sizes(&pool).await?.1;

    let probe = Probe::start(url, "events_out", args.rate).await?;
    let t0 = Instant::now();
    let dropped = store.drop_months_before("events_out", cutoff).await?;
    let drop_s = t0.elapsed().as_secs_f64();
    let (rest, rest_statements) =
        data::delete_in_batches(&pool, "events_out", cutoff, args.batch).await?;
    let parted_s = t0.elapsed().as_secs_f64();
    let during_drop = probe.finish().await?;
    println!(
        "{}",
        probe::line("partitioned, while dropping months", &during_drop)
    );
    let after_parted = data::sizes(&pool).await?.0;

    println!(
        "removing the {old} rows older than {} days:",
        args.retention_days
    );
    println!(
        "  row by row (flat):   {flat_gone} rows in {delete_s:.1} s ({statements} statements), then vacuum {vacuum_s:.1} s; size {} -> {} after the delete -> {} after vacuum",
        mb(sizes_before.1), mb(after_delete), mb(after_vacuum)
    );
    println!(
        "  by month (partitioned): {dropped} rows in whole months dropped in {drop_s:.2} s, {rest} rows of the cut's month deleted ({rest_statements} statements); {parted_s:.1} s in all; size {} -> {}",
        mb(sizes_before.0), mb(after_parted)
    );
    let (flat_old, flat_kept) = data::counts(&pool, FLAT, cutoff).await?;
    let (parted_old, parted_kept) = data::counts(&pool, "events_out", cutoff).await?;
    let probes = |p: &probe::Percentiles| p.count as i64;
    let same = flat_gone == old as u64
        && dropped + rest == old as u64
        && flat_old == 0
        && parted_old == 0
        && flat_kept == kept + probes(&idle_flat) + probes(&during_delete) + probes(&during_vacuum)
        && parted_kept == kept + probes(&idle_parted) + probes(&during_drop);
    println!(
        "  check: both removed exactly the {old} old rows and kept the {kept} newer (plus the probes' own): {}",
        if same { "yes" } else { "NO" }
    );
    pool.close().await;
    if !same {
        bail!("the two retentions did not remove the same rows (flat {flat_gone}, partitioned {dropped}+{rest}, of {old}; left older: {flat_old}/{parted_old})");
    }
    Ok(())
}

/// `--archive`: Parley's retention pass over the year, with the hot-path writer.
async fn archive_phase(
    args: &YearArgs,
    store: &PgStore,
    pool: &PgPool,
    url: &str,
) -> anyhow::Result<()> {
    sqlx::query("analyze").execute(pool).await?;
    let before = data::sizes_of(pool, "events_out").await?;
    let idle = probe::idle(url, "events_out", args.rate, 10.0).await?;
    println!("hot-path inserts (one event out each):");
    println!("{}", probe::line("nothing else running", &idle));
    let dir = std::env::temp_dir().join(format!("parley-year-archive-{}", std::process::id()));
    let days = u64::try_from(args.retention_days)?;
    let done = archive::run(store, pool, url, &dir, days, args.rate).await?;
    println!(
        "{}",
        probe::line("while Parley's retention pass archives", &done.during)
    );
    let after = data::sizes_of(pool, "events_out").await?;
    let files = folder_bytes(&dir);
    println!(
        "  retention pass: {} rows archived, {} removed in {:.1} s ({:.0} rows/s); events_out {} -> {}; archive {} compressed",
        done.archived,
        done.removed,
        done.seconds,
        done.archived as f64 / done.seconds,
        mb(before),
        mb(after),
        mb(files as i64)
    );
    let complete = done.read_back == done.expected && done.archived == done.expected.0;
    println!(
        "  archive read back: {} rows, checksum {:016x}; in the database before: {} rows, checksum {:016x}: {}",
        done.read_back.0,
        done.read_back.1,
        done.expected.0,
        done.expected.1,
        if complete { "complete" } else { "NOT COMPLETE" }
    );
    if !args.keep {
        std::fs::remove_dir_all(&dir).ok();
    } else {
        println!("kept the archive in {}", dir.display());
    }
    if !complete {
        bail!("the archive read back differs from what the database held");
    }
    Ok(())
}

/// Bytes of the files under `dir`.
fn folder_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => folder_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn mb(bytes: i64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}

async fn create_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut conn = PgConnection::connect(admin_url)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {admin_url}"))?;
    sqlx::raw_sql(&format!("create database {name}"))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating database {name}"))?;
    conn.close().await.ok();
    let mut url = reqwest::Url::parse(admin_url).context("--postgres-url is not a URL")?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(&format!("drop database if exists {name} with (force)"))
        .execute(&mut conn)
        .await
        .with_context(|| format!("dropping database {name}"))?;
    conn.close().await.ok();
    Ok(())
}
