//! A flow's tests, run from the page. (being written: issue 56)

use super::super::error::Error;
use axum::response::{IntoResponse, Response};

pub(super) async fn run() -> Response {
    Error::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "not written yet",
    )
    .into_response()
}
