//! The server under test in one run: Parley as a child process on a fresh database, or
//! the storage-less baseline server; started with what the run's arguments say, stopped
//! after its histograms, database counters and log were read.

use crate::child::{Database, Parley, Setup};
use std::time::Duration;

/// The server under test in one run.
pub enum Running {
    Parley(Parley),
    Baseline(crate::baseline::Child),
}

impl Running {
    pub fn pid(&self) -> u32 {
        match self {
            Running::Parley(p) => p.pid,
            Running::Baseline(b) => b.pid,
        }
    }

    pub fn base(&self) -> &str {
        match self {
            Running::Parley(p) => &p.base,
            Running::Baseline(b) => &b.base,
        }
    }
}

/// What one run's server is started with, besides the arguments.
pub struct StartWith<'a> {
    pub binary: &'a std::path::Path,
    pub database: &'a Database,
    pub api_base: String,
    pub app_secret: &'a str,
    pub model_base_url: Option<String>,
    pub broadcast: bool,
}

/// Starts the server under test: Parley on a fresh database, or the baseline server.
pub async fn start(
    args: &crate::Args,
    subject: crate::Subject,
    with: StartWith<'_>,
) -> anyhow::Result<Running> {
    let pin = args.pin.then_some(crate::pin::SUBJECT_CPU);
    if subject == crate::Subject::Baseline {
        let child = crate::baseline::Child::start(&with.api_base, with.app_secret, pin).await?;
        return Ok(Running::Baseline(child));
    }
    let parley = Parley::start(Setup {
        binary: with.binary,
        flows: args.flows,
        database: with.database,
        api_base: with.api_base,
        phone_number: crate::PHONE_NUMBER,
        phone_number_id: crate::PHONE_NUMBER_ID,
        app_secret: with.app_secret,
        overrides: &args.overrides,
        keep: args.keep,
        preload: args.preload,
        tuned: args.tuned,
        pin,
        model_base_url: with.model_base_url,
        broadcast: with.broadcast,
        pace: args.pace.unwrap_or(crate::pace::UNPACED),
        senders: args.senders,
    })
    .await?;
    eprintln!(
        "parley-bench: parley pid {} at {}, folder {}",
        parley.pid,
        parley.base,
        parley.dir().display()
    );
    Ok(Running::Parley(parley))
}

/// Reads Parley's histograms, PostgreSQL's counters and its log, then stops it (or the
/// baseline server): `(stages, counters, problems logged, seconds the stop took)`.
pub async fn stop(
    running: Running,
    postgres: bool,
    statements_measured: bool,
    wal_start: Option<String>,
) -> anyhow::Result<(
    Option<crate::stages::Stages>,
    Option<serde_json::Value>,
    usize,
    f64,
)> {
    let parley = match running {
        Running::Parley(parley) => parley,
        Running::Baseline(b) => {
            b.stop().await;
            return Ok((None, None, 0, 0.0));
        }
    };
    let stages = crate::stages::scrape(&parley.base).await;
    // PostgreSQL publishes its statistics about once a second.
    if postgres {
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    let counters = parley
        .postgres_counters(statements_measured, wal_start.as_deref())
        .await;
    let problems = parley.logged_problems();
    if problems > 0 {
        eprintln!(
            "parley-bench: parley logged {problems} warnings/errors; the last lines:\n{}",
            parley.log_tail()
        );
    }
    let stopped = parley.stop().await?;
    if stopped.killed || stopped.exit_code != Some(0) {
        eprintln!("parley-bench: parley did not stop cleanly: {stopped:?}");
    }
    Ok((stages, counters, problems, stopped.seconds))
}
