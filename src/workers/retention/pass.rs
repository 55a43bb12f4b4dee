//! One retention pass: for each kind with a period, under the archiver's lease, the oldest
//! rows past the period are read in batches, written to the archive (flushed to disk), and
//! only then deleted, batch by batch with a pause between, so the hot path's writes never
//! wait long behind the archiver. A pass that loses the lease (another process took it)
//! stops; the next one picks up from the oldest rows still there.

use super::archive::Archive;
use crate::config::RetentionConfig;
use crate::domain::clock::Clock;
use crate::metrics as m;
use crate::store::{DynStore, HistoryKind};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long the archiver's lease lasts; renewed before every batch.
pub const LEASE: Duration = Duration::from_secs(60);
/// The most pages of the SQLite file given back after each batch (1 MB of 1 KB pages).
const RECLAIM_PAGES: i64 = 1024;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PassReport {
    /// Rows written to the archive, by kind.
    pub archived: BTreeMap<HistoryKind, u64>,
    /// Rows deleted (or emptied), by kind.
    pub removed: BTreeMap<HistoryKind, u64>,
    /// Pages of the SQLite file given back.
    pub reclaimed_pages: i64,
    /// Whether another process held the lease (so nothing was done).
    pub lease_elsewhere: bool,
}

/// Who archives and where: what a pass needs.
#[derive(Clone)]
pub struct Archiver {
    pub store: DynStore,
    pub archive: Archive,
    pub config: RetentionConfig,
    pub clock: Arc<dyn Clock>,
    /// This process's name for the lease.
    pub owner: String,
}

/// The period of `kind` in `config`, if it has one.
pub fn period(config: &RetentionConfig, kind: HistoryKind) -> Option<Duration> {
    config
        .periods()
        .into_iter()
        .find(|(key, _)| *key == kind.setting())
        .and_then(|(_, p)| p)
}

impl Archiver {
    /// Runs one pass over every kind with a period (see the module's doc); stops early at
    /// `stop`. This is the function a benchmark calls to archive once.
    pub async fn run_pass(&self, stop: &CancellationToken) -> anyhow::Result<PassReport> {
        let mut report = PassReport::default();
        if !self.renew().await? {
            report.lease_elsewhere = true;
            return Ok(report);
        }
        let now = self.clock.now();
        for kind in HistoryKind::ALL {
            let Some(period) = period(&self.config, kind) else {
                continue;
            };
            let cutoff = now - TimeDelta::from_std(period)?;
            if !self.kind_pass(kind, cutoff, stop, &mut report).await? {
                report.lease_elsewhere = true;
                break;
            }
            if !stop.is_cancelled() {
                // Everything it may is archived: PostgreSQL drops the emptied months whole.
                let dropped = self.store.retire_months(kind, cutoff).await?;
                *report.removed.entry(kind).or_default() += dropped;
            }
        }
        // The rest of the freed pages, a little at a time.
        while !stop.is_cancelled() {
            let freed = self.store.reclaim_space(RECLAIM_PAGES).await?;
            report.reclaimed_pages += freed;
            if freed < RECLAIM_PAGES {
                break;
            }
            tokio::time::sleep(self.config.pause).await;
        }
        metrics::gauge!(m::RETENTION_LAST_RUN).set(Utc::now().timestamp() as f64);
        Ok(report)
    }

    async fn renew(&self) -> anyhow::Result<bool> {
        let now = self.clock.now();
        Ok(self
            .store
            .retention_lease(&self.owner, now, now + TimeDelta::from_std(LEASE)?)
            .await?)
    }

    /// One kind's batches; false when the lease went to another process.
    async fn kind_pass(
        &self,
        kind: HistoryKind,
        cutoff: DateTime<Utc>,
        stop: &CancellationToken,
        report: &mut PassReport,
    ) -> anyhow::Result<bool> {
        let batch = i64::from(self.config.batch.max(1));
        let mut after = 0;
        while !stop.is_cancelled() {
            if !self.renew().await? {
                return Ok(false);
            }
            let rows = self.store.history_batch(kind, cutoff, after, batch).await?;
            let Some(last) = rows.last() else {
                break;
            };
            after = last.id;
            let ids: Vec<_> = rows.iter().map(|r| r.id).collect();
            let count = rows.len() as u64;
            let archive = self.archive.clone();
            tokio::task::spawn_blocking(move || archive.write_batch(kind, &rows))
                .await?
                .map_err(|e| {
                    anyhow::anyhow!(
                        "retention: cannot write the archive in {}: {e}; set retention.dir to a folder Parley's user can write",
                        self.archive.dir().display()
                    )
                })?;
            *report.archived.entry(kind).or_default() += count;
            metrics::counter!(m::RETENTION_ARCHIVED, "kind" => kind.name()).increment(count);
            let removed = self.store.remove_history(kind, cutoff, ids).await?;
            *report.removed.entry(kind).or_default() += removed;
            metrics::counter!(m::RETENTION_REMOVED, "kind" => kind.name()).increment(removed);
            report.reclaimed_pages += self.store.reclaim_space(RECLAIM_PAGES).await?;
            if (count as i64) < batch {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.pause) => {}
                _ = stop.cancelled() => {}
            }
        }
        Ok(true)
    }
}
