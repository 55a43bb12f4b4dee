//! What every handler is given: `AppState`, the one shared state of the HTTP layer, and
//! `WebhookLog`, which it holds. A leaf: it imports the layers below and nothing of
//! `http/`, so every router and handler can import it without a circle.

use crate::channels::senders::Senders;
use crate::config::Config;
use crate::domain::Clock;
use crate::engine::FlowEngine;
use crate::store::DynStore;
use crate::workers::ingest::Ingestor;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Everything a handler needs, behind one `Arc`: axum clones the state for every request,
/// and cloning (then dropping) the twenty-odd `Arc`s inside it one by one was 2.4 % of
/// Parley's samples at 4,000 webhooks/s (BENCHMARKS.md, "Why a message costs three times
/// more at 1,000/s").
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    /// The same state with the studio's try-out and tests run by `runner`.
    pub fn with_studio_runner(mut self, runner: Arc<dyn StudioRunner>) -> Self {
        Arc::make_mut(&mut self.0).studio_runner = Some(runner);
        self
    }

    /// The same state with webhooks stored through `ingestor`.
    pub fn with_ingestor(mut self, ingestor: Ingestor) -> Self {
        Arc::make_mut(&mut self.0).ingestor = ingestor;
        self
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What `AppState` holds.
#[derive(Clone)]
pub struct Shared {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub senders: Arc<Senders>,
    pub ingestor: Ingestor,
    pub clock: Arc<dyn Clock>,
    pub engine: Arc<FlowEngine>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    pub flow_status: crate::workers::reload::SharedFlowStatus,
    /// Sandbox senders: injected messages, traces, the optional manual clock.
    pub sandbox: crate::sandbox::Sandbox,
    /// Wakes the outbox (and inbox) after API sends and releases.
    pub wake: crate::workers::Wakeups,
    /// When each sender last got a verified webhook or handshake (health checks).
    pub webhook_log: Arc<WebhookLog>,
    /// The files of inbound media (`media.dir`).
    pub media_files: crate::store::files::MediaFiles,
    /// Prices API sends (the cost ledger, spend limits).
    pub pricer: Arc<crate::domain::pricing::Pricer>,
    /// One permit: the contacts import running now (`api::contacts::import`).
    pub imports: Arc<tokio::sync::Semaphore>,
    /// The flow studio's analysis of the project, kept between keystrokes.
    pub studio: Arc<crate::studio::analysis::Project>,
    /// Runs a fresh Parley on unsaved flows for the studio's try-out and tests; set by
    /// `parley serve` (the in-process driver sits above HTTP), `None` elsewhere.
    pub studio_runner: Option<Arc<dyn StudioRunner>>,
    /// Records trace spans (`telemetry:`); off, it records nothing.
    pub tracer: crate::telemetry::Tracer,
}

/// What the studio needs from a fresh in-process Parley with unsaved texts standing in for
/// flow files. Each call blocks its thread until done (it runs its own runtime there).
pub trait StudioRunner: Send + Sync {
    /// Replays the customer's `messages` on a Parley started with `overrides` at `start`,
    /// the customer's language and forced arms set to `choices` first, within `timeout`:
    /// one JSON turn per message (`customer`, `replies`, and `trace`, the steps of flow
    /// `flow` as the studio graph's node ids; `decisions`, the interpreter's).
    #[allow(clippy::too_many_arguments)]
    fn try_out(
        &self,
        config: Config,
        start: DateTime<Utc>,
        overrides: crate::flows::Overrides,
        flow: String,
        messages: Vec<String>,
        choices: crate::sandbox::choices::TryChoices,
        timeout: std::time::Duration,
    ) -> anyhow::Result<Vec<serde_json::Value>>;

    /// Runs the flow test `files` with `overrides`, one after the other, within `timeout`
    /// in all: one JSON result per file (`file` named under `shown`, the flows folder as
    /// the page names it; `name`, `passed`, `failure`).
    fn tests(
        &self,
        config: Config,
        files: Vec<std::path::PathBuf>,
        overrides: crate::flows::Overrides,
        shown: String,
        timeout: std::time::Duration,
    ) -> Vec<serde_json::Value>;

    /// What is wrong with a flow test file's `text`, as `parley check` says it: the
    /// first problem's line, column (when known) and message; `None` when it reads.
    fn test_file_problem(&self, text: &str) -> Option<(usize, Option<usize>, String)>;
}

/// When each configured sender last received a verified webhook or handshake. Lock-free
/// (one atomic per sender, created at start), so the webhook path pays one store.
#[derive(Debug, Default)]
pub struct WebhookLog {
    last: HashMap<i64, AtomicI64>,
}

impl WebhookLog {
    pub fn new(config: &Config) -> Self {
        Self {
            last: config
                .senders
                .iter()
                .map(|s| (s.id, AtomicI64::new(i64::MIN)))
                .collect(),
        }
    }

    pub fn record(&self, sender_id: i64, at: DateTime<Utc>) {
        if let Some(slot) = self.last.get(&sender_id) {
            slot.fetch_max(at.timestamp_micros(), Ordering::Relaxed);
        }
    }

    pub fn last(&self, sender_id: i64) -> Option<DateTime<Utc>> {
        let micros = self.last.get(&sender_id)?.load(Ordering::Relaxed);
        (micros != i64::MIN)
            .then(|| DateTime::from_timestamp_micros(micros))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_log_keeps_the_latest_time_of_known_senders() {
        let log = WebhookLog::new(&Config::embedded_default());
        assert_eq!(log.last(1), None);
        let t1 = DateTime::from_timestamp(1_000, 0).unwrap();
        let t2 = DateTime::from_timestamp(2_000, 0).unwrap();
        log.record(1, t2);
        log.record(1, t1);
        log.record(99, t1);
        assert_eq!(log.last(1), Some(t2));
        assert_eq!(log.last(99), None);
    }
}
