//! Retention (issue 60): archives history past its period, then deletes it. With any
//! period under `retention:`, one loop per process runs a pass (`pass::Archiver`) at start
//! and every `retention.interval`; the archiver's lease in the database lets one process
//! at a time do it. The files are written by `archive` (local folder `retention.dir`), and
//! with `retention.to: bucket` uploaded to the bucket of `media.s3` by `bucket`;
//! `parley archive` reads them back.

pub mod archive;
pub mod bucket;
pub mod pass;

use crate::config::Config;
use crate::domain::Clock;
use crate::engine::FlowEngine;
use crate::store::DynStore;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Starts the retention loop when any kind has a period (same signature as the other
/// background workers' `spawn`).
pub fn spawn(
    config: &Arc<Config>,
    store: &DynStore,
    _engine: &Arc<FlowEngine>,
    clock: &Arc<dyn Clock>,
    owner: &str,
    workers: &TaskTracker,
    stop: &CancellationToken,
) {
    if !config.retention.any() {
        return;
    }
    let archive = match configured(config) {
        Ok(archive) => archive,
        Err(e) => {
            // `parley check` and the start refuse this config before it gets here.
            tracing::error!("retention: not started: {e}");
            return;
        }
    };
    let archiver = pass::Archiver {
        store: store.clone(),
        archive,
        config: config.retention.clone(),
        clock: clock.clone(),
        owner: format!("{owner}/retention"),
    };
    let interval = config.retention.interval;
    let stop = stop.clone();
    workers.spawn(async move {
        loop {
            let started = std::time::Instant::now();
            match archiver.run_pass(&stop).await {
                Ok(report) if report.lease_elsewhere => {
                    tracing::debug!("retention: another process is archiving")
                }
                Ok(report) => tracing::info!(
                    archived = report.archived.values().sum::<u64>(),
                    removed = report.removed.values().sum::<u64>(),
                    reclaimed_pages = report.reclaimed_pages,
                    upload_failures = report.upload_failed.len(),
                    took_ms = started.elapsed().as_millis() as u64,
                    "retention pass done"
                ),
                Err(e) => {
                    tracing::warn!("retention pass failed (tried again in {interval:?}): {e:#}")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.cancelled() => return,
            }
        }
    });
}

/// The archive `retention:` describes: the folder `retention.dir`, and with `to: bucket`
/// the bucket of `media.s3`.
pub fn configured(config: &Config) -> Result<archive::Archive, String> {
    let dir = &config.retention.dir;
    if config.retention.to != crate::config::ArchiveTo::Bucket {
        return Ok(archive::Archive::new(dir));
    }
    let s3 = config.media.s3.as_ref().ok_or(
        "retention.to: `bucket` keeps the archive in the bucket of media.s3, which is not set: set media.s3 or use `to: local`",
    )?;
    let http = reqwest::Client::builder()
        .read_timeout(std::time::Duration::from_secs(60))
        .connect_timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("media.s3: {e}"))?;
    let bucket = crate::store::files::s3::S3::new(http, s3)?;
    Ok(archive::Archive::in_bucket(dir, bucket))
}
