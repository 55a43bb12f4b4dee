//! The HTTP edge: axum routers for webhooks (`webhooks.rs`), the public API (`api/`), the
//! sandbox API (`sandbox.rs`), flow insights and their page (`insights.rs`), operations (`ops.rs`) and what a browser or a mistyped path
//! is told (`pages.rs`: `/`, the 404s), the shared `AppState`, and the one error type with
//! the one place it becomes a status and a body per API family (`error.rs`).

pub mod api;
pub mod error;
mod insights;
pub mod listen;
mod ops;
mod pages;
mod sandbox;
mod webhooks;

use crate::channels::senders::Senders;
use crate::config::Config;
use crate::domain::Clock;
use crate::engine::FlowEngine;
use crate::store::DynStore;
use crate::workers::ingest::Ingestor;
use axum::routing::get;
use axum::{middleware, Router};
use error::WithBodyLimit;
use std::sync::Arc;
use tower_http::trace::TraceLayer;

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
    pub webhook_log: Arc<api::WebhookLog>,
    /// The files of inbound media (`media.dir`).
    pub media_files: crate::store::files::MediaFiles,
    /// Prices API sends (the cost ledger, spend limits).
    pub pricer: Arc<crate::domain::pricing::Pricer>,
    /// One permit: the contacts import running now (`api::contacts::import`).
    pub imports: Arc<tokio::sync::Semaphore>,
}

pub fn router(state: AppState) -> Router {
    let webhooks = Router::new()
        .route(
            "/webhooks/meta",
            get(webhooks::meta_handshake).post(webhooks::meta_post),
        )
        .route(
            "/webhooks/twilio",
            axum::routing::post(webhooks::twilio_post),
        )
        .with_body_limit(state.config.webhooks.max_body_bytes)
        .layer(middleware::from_fn(error::render_errors));
    Router::new()
        .merge(webhooks)
        .merge(sandbox::router(&state))
        .merge(insights::router(&state))
        .merge(api::router(state.clone()))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(pages::router())
        .fallback(pages::fallback)
        // Parley logs its own failures (`error::render`, throttled for 503s); tower's line
        // for each 5xx repeated them, one per request during an outage.
        .layer(
            TraceLayer::new_for_http().on_failure(
                tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG),
            ),
        )
        .with_state(state)
}
