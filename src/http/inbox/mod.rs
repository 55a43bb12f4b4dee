//! The inbox: a page (`GET /inbox`) where the people a flow hands customers to answer
//! them, for teams without a helpdesk, and its calls under `/api/inbox/…`, listed in the
//! API's `ROUTES` and served behind its keys (`api::auth`): a key with `scopes: [inbox]`
//! may call only these.
//!
//! Rooms: `page.rs` (the page and its embedded assets; the page holds no data and asks for
//! a key), `list.rs` (the conversations in a handoff, oldest waiting first, and what the
//! list and the conversation share), `show.rs` (one conversation: its history, its window
//! and the templates it may be sent), `reply.rs` (a reply, free text or a template, through
//! the outbox as every send; a release back to the bot). Only conversations in a handoff
//! are reachable here: any other id answers 404.

mod list;
mod page;
mod reply;
mod show;

pub(super) use list::list;
pub(super) use reply::{release, reply};
pub(super) use show::show;

use super::state::AppState;
use axum::routing::get;
use axum::Router;

/// The page and its assets (the API's routes are the API router's).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/inbox", get(page::page))
        .route("/inbox/assets/{name}", get(page::asset))
        .layer(axum::middleware::from_fn(super::error::render_errors))
}
