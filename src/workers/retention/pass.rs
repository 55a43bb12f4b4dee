//! One retention pass: for each kind with a period, under the archiver's lease, the oldest
//! rows past the period are read in batches, written to the archive (flushed to disk), and
//! only then deleted, batch by batch with a pause between, so the hot path's writes never
//! wait long behind the archiver. With the archive in a bucket, each batch's files are
//! uploaded before its rows are deleted (then the local copies are removed); an upload
//! that fails stops that kind's pass with its rows kept, for the next pass to try again.
//! A pass that loses the lease (another process took it) stops; the next one picks up
//! from the oldest rows still there.

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
    /// The kinds whose upload to the bucket failed (their rows kept for the next pass).
    pub upload_failed: Vec<HistoryKind>,
}

/// How one kind's pass ended.
enum KindPass {
    Done,
    LeaseLost,
    UploadFailed,
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
            match self.kind_pass(kind, cutoff, stop, &mut report).await? {
                KindPass::Done => {}
                KindPass::LeaseLost => {
                    report.lease_elsewhere = true;
                    break;
                }
                // Not everything past the period is archived: no month is dropped.
                KindPass::UploadFailed => {
                    report.upload_failed.push(kind);
                    continue;
                }
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

    /// One kind's batches, until none is left, the lease goes to another process or an
    /// upload fails.
    async fn kind_pass(
        &self,
        kind: HistoryKind,
        cutoff: DateTime<Utc>,
        stop: &CancellationToken,
        report: &mut PassReport,
    ) -> anyhow::Result<KindPass> {
        let batch = i64::from(self.config.batch.max(1));
        let mut after = 0;
        while !stop.is_cancelled() {
            if !self.renew().await? {
                return Ok(KindPass::LeaseLost);
            }
            let rows = self.store.history_batch(kind, cutoff, after, batch).await?;
            let Some(last) = rows.last() else {
                break;
            };
            after = last.id;
            let ids: Vec<_> = rows.iter().map(|r| r.id).collect();
            let count = rows.len() as u64;
            let archive = self.archive.clone();
            let written = tokio::task::spawn_blocking(move || archive.write_batch(kind, &rows))
                .await?
                .map_err(|e| {
                    anyhow::anyhow!(
                        "retention: cannot write the archive in {}: {e}; set retention.dir to a folder Parley's user can write",
                        self.archive.dir().display()
                    )
                })?;
            if let Some(bucket) = self.archive.bucket() {
                if let Err(e) = super::bucket::upload(&self.archive, bucket, &written).await {
                    // The rows stay in the database: the next pass writes their files again.
                    super::bucket::remove_local(&written);
                    tracing::warn!(
                        kind = kind.name(),
                        "retention: cannot upload the archive to the bucket of media.s3 ({e}); the rows are kept and the upload is tried again next pass: check media.s3 and that the bucket is reachable"
                    );
                    return Ok(KindPass::UploadFailed);
                }
            }
            *report.archived.entry(kind).or_default() += count;
            metrics::counter!(m::RETENTION_ARCHIVED, "kind" => kind.name()).increment(count);
            let removed = self.store.remove_history(kind, cutoff, ids).await?;
            *report.removed.entry(kind).or_default() += removed;
            metrics::counter!(m::RETENTION_REMOVED, "kind" => kind.name()).increment(removed);
            if self.archive.bucket().is_some() {
                super::bucket::remove_local(&written);
            }
            report.reclaimed_pages += self.store.reclaim_space(RECLAIM_PAGES).await?;
            if (count as i64) < batch {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.pause) => {}
                _ = stop.cancelled() => {}
            }
        }
        Ok(KindPass::Done)
    }
}
