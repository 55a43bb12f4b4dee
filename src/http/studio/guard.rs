//! Who may use the studio. (being written: issue 56)

use super::super::state::AppState;
use axum::extract::State;
use axum::response::Response;

/// Loopback only unless `studio.expose`; then an API key named in `studio.editors`.
pub(super) async fn editors_only(
    State(st): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let _ = st;
    next.run(request).await
}
