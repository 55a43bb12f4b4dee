//! The hot path's writes during `parley-year`: one event out inserted at a time, at a
//! fixed rate, on a connection of its own, each insert's latency recorded — the statement a
//! step's commit runs for every message when an endpoint listens. Run while nothing else
//! happens, and while old history goes (row by row, or by whole months), it shows whether
//! retention stalls the writes customers wait for.

use sqlx::{Connection, PgConnection};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Latency percentiles of a probe's inserts, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Exact percentiles (nearest rank) of nanosecond samples, in milliseconds.
fn percentiles(mut ns: Vec<u64>) -> Percentiles {
    if ns.is_empty() {
        return Percentiles::default();
    }
    ns.sort_unstable();
    let at = |q: f64| {
        let rank = ((q * ns.len() as f64).ceil() as usize).clamp(1, ns.len());
        ns[rank - 1] as f64 / 1e6
    };
    Percentiles {
        count: ns.len(),
        p50: at(0.50),
        p99: at(0.99),
        max: ns[ns.len() - 1] as f64 / 1e6,
    }
}

/// A probe writing into one table until it is finished.
pub struct Probe {
    stop: Arc<AtomicBool>,
    handle: tokio::task::JoinHandle<anyhow::Result<Vec<u64>>>,
}

impl Probe {
    /// Starts inserting into `table` (`events_out` or the flat copy) `rate` times a second.
    pub async fn start(url: &str, table: &'static str, rate: u32) -> anyhow::Result<Probe> {
        let mut conn = PgConnection::connect(url).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let every = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
        let handle = tokio::spawn(async move {
            let insert = format!(
                "insert into {table} (kind, at, conversation_id, sender_id, data)
                 values ('message.received', now(), $1, 1, '{{\"text\":\"live\"}}')"
            );
            let mut samples = Vec::new();
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut n = 0i64;
            while !stopping.load(Ordering::Relaxed) {
                ticks.tick().await;
                n += 1;
                let t0 = Instant::now();
                sqlx::query(&insert).bind(n).execute(&mut conn).await?;
                samples.push(t0.elapsed().as_nanos() as u64);
            }
            conn.close().await.ok();
            Ok(samples)
        });
        Ok(Probe { stop, handle })
    }

    /// Stops the probe; the latency of its inserts.
    pub async fn finish(self) -> anyhow::Result<Percentiles> {
        self.stop.store(true, Ordering::Relaxed);
        Ok(percentiles(self.handle.await??))
    }
}

/// The probe alone on `table` for `seconds`: the latency with nothing else running.
pub async fn idle(
    url: &str,
    table: &'static str,
    rate: u32,
    seconds: f64,
) -> anyhow::Result<Percentiles> {
    let probe = Probe::start(url, table, rate).await?;
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    probe.finish().await
}

/// One line of the report: a probe's figures.
pub fn line(what: &str, p: &Percentiles) -> String {
    format!(
        "  {what:<44} inserts {:>6}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms",
        p.count, p.p50, p.p99, p.max
    )
}
