//! The project's files: the tree and one file's text. (being written: issue 56)

use super::super::error::Error;
use axum::response::{IntoResponse, Response};

pub(super) async fn list() -> Response {
    Error::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "not written yet",
    )
    .into_response()
}

pub(super) async fn read() -> Response {
    Error::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "not written yet",
    )
    .into_response()
}
