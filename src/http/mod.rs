//! The HTTP edge: axum routers for webhooks (`webhooks.rs`), the public API (`api/`), the
//! sandbox API (`sandbox.rs`), flow insights and their page (`insights.rs`), operations (`ops.rs`) and what a browser or a mistyped path
//! is told (`pages.rs`: `/`, the 404s), the shared `AppState` (`state.rs`, a leaf), and the one error type with
//! the one place it becomes a status and a body per API family (`error.rs`).

pub mod api;
mod chatwoot;
pub mod error;
mod inbox;
mod insights;
pub mod listen;
mod local_pages;
mod ops;
mod pages;
mod sandbox;
mod schemas;
pub mod state;
mod studio;
mod traces;
mod webhooks;

pub use state::{AppState, Shared};

use axum::routing::get;
use axum::{middleware, Router};
use error::WithBodyLimit;
use tower_http::trace::TraceLayer;

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
        .merge(chatwoot::router(&state))
        .merge(sandbox::router(&state))
        .merge(insights::router(&state))
        .merge(inbox::router())
        .merge(studio::router(&state))
        .merge(schemas::router())
        .merge(
            api::router(state.clone())
                .layer(middleware::from_fn_with_state(state.clone(), traces::api)),
        )
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
