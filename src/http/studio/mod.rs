//! The flow studio: `GET /studio`, the page where authors edit a flow with the problems,
//! completion and hover of `parley check` while they type, see it drawn as a graph, chat
//! with the unsaved version, run its tests, see its insights, and save it (atomically,
//! refused over someone else's newer save, every version kept); and `/studio/api/…`, the
//! reads and writes the page makes.
//!
//! Who may use it (`guard.rs`): this machine only unless `studio.expose`, and then only
//! with an API key named in `studio.editors`. Rooms: `page.rs` (the page and its embedded
//! assets), `files.rs` (the project's files), `save.rs` (save, history, restore),
//! `analysis.rs` (problems, completion, hover and the graph of an unsaved text),
//! `try_out.rs` (a chat with the unsaved version), `tests.rs` (a flow's tests),
//! `insights.rs` (the saved version's numbers per step).

mod analysis;
mod files;
mod guard;
mod insights;
mod page;
mod save;
mod tests;
mod try_out;

use super::error::WithBodyLimit;
use super::state::AppState;
use axum::routing::{get, post};
use axum::Router;

/// The most a studio request may carry: a flow file (`config::file_limits::MAX_FILE_BYTES`)
/// twice over (a save carries the text and what it replaces), with room for JSON's escapes.
const BODY_BYTES: usize = 4 * 1024 * 1024 + 64 * 1024;

pub fn router(state: &AppState) -> Router<AppState> {
    if !state.config.studio.enabled {
        return Router::new();
    }
    Router::new()
        .route("/studio", get(page::page))
        .route("/studio/assets/{name}", get(page::asset))
        .route("/studio/api/files", get(files::list))
        .route("/studio/api/file", get(files::read))
        .route("/studio/api/save", post(save::save))
        .route("/studio/api/history", get(save::history))
        .route("/studio/api/restore", post(save::restore))
        .route("/studio/api/check", post(analysis::check))
        .route("/studio/api/complete", post(analysis::complete))
        .route("/studio/api/hover", post(analysis::hover))
        .route("/studio/api/try", post(try_out::try_out))
        .route("/studio/api/tests", post(tests::run))
        .route("/studio/api/insights/{flow}", get(insights::flow))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::editors_only,
        ))
        .with_body_limit(BODY_BYTES)
        .layer(axum::middleware::from_fn(super::error::render_errors))
}
