//! Hot reload: watches the flow and script folders (by modification time and size, checked
//! every second — no platform file-watch API to fail) and swaps in the new flow set when it
//! loads cleanly. A broken edit is logged and reported on `/readyz` and the running flows
//! stay; runs in progress finish on the version they started with.
//!
//! Loading never runs on a runtime worker: each check and load is handed to a blocking
//! thread, and the load itself compiles on a thread with a known, large stack after the
//! files passed their size and nesting limits (`flows::limits`). No saved file can stop
//! the daemon or hold up webhooks.

use crate::engine::FlowEngine;
use crate::flows::{self, Problem};
use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What the last load found, for `/readyz` and the API.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FlowStatus {
    pub loaded_at: Option<DateTime<Utc>>,
    /// Flows currently running.
    pub flows: usize,
    /// Problems of the last attempt; when it had errors, the flows before it still run.
    pub problems: Vec<Problem>,
    /// The files on disk have errors: what runs is an earlier version.
    pub stale: bool,
}

pub type SharedFlowStatus = Arc<RwLock<FlowStatus>>;

pub struct Reloader {
    pub engine: Arc<FlowEngine>,
    pub config: Arc<crate::config::Config>,
    pub status: SharedFlowStatus,
    /// The files as they were when the running flows were loaded.
    pub loaded: Fingerprint,
    /// The knowledge files the flows named at the last load attempt (watched too).
    pub knowledge: std::sync::Mutex<Vec<PathBuf>>,
}

pub type Fingerprint = Vec<(PathBuf, std::time::SystemTime, u64)>;

/// The flow, script and `knowledge` files' names, times and sizes.
pub fn fingerprint(config: &crate::config::Config, knowledge: &[PathBuf]) -> Fingerprint {
    let mut paths = vec![
        std::path::Path::new(&config.flows.dir),
        std::path::Path::new(&config.flows.scripts_dir),
    ];
    paths.extend(knowledge.iter().map(PathBuf::as_path));
    flows::fingerprint(&paths)
}

impl Reloader {
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let mut seen = this.loaded.clone();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.cancelled() => return,
            }
            let config = this.config.clone();
            let knowledge = this.knowledge.lock().map(|k| k.clone()).unwrap_or_default();
            let Ok(now) =
                tokio::task::spawn_blocking(move || fingerprint(&config, &knowledge)).await
            else {
                continue;
            };
            if now == seen {
                continue;
            }
            seen = now;
            let me = this.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || me.reload()).await {
                // The running flows stay; the next change of the files tries again.
                tracing::error!("reloading the flows failed: {e}");
            }
        }
    }

    pub fn reload(&self) {
        let report = flows::load_configured(&self.config);
        if let Ok(mut k) = self.knowledge.lock() {
            *k = report.knowledge_files.clone();
        }
        let mut status = self.status.write().unwrap_or_else(|e| e.into_inner());
        status.problems = report.problems.clone();
        let (warnings, errors, rendered) = (report.warnings(), report.errors(), report.render());
        match report.set {
            Some(set) => {
                tracing::info!(flows = set.len(), warnings, "flows reloaded");
                for w in &report.problems {
                    tracing::warn!("{w}");
                }
                status.flows = set.len();
                status.loaded_at = Some(Utc::now());
                status.stale = false;
                metrics::gauge!(crate::metrics::FLOWS_STALE).set(0.0);
                self.engine.replace(set);
            }
            None => {
                tracing::error!(
                    errors,
                    "flow files have errors; the flows loaded before keep running:\n{rendered}"
                );
                status.stale = true;
                metrics::gauge!(crate::metrics::FLOWS_STALE).set(1.0);
            }
        }
    }
}
