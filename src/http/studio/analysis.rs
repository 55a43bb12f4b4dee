//! Problems, completion, hover and the graph of an unsaved text. (being written: issue 56)

use super::super::error::Error;
use axum::response::{IntoResponse, Response};

pub(super) async fn check() -> Response {
    Error::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "not written yet",
    )
    .into_response()
}

pub(super) async fn complete() -> Response {
    Error::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "not written yet",
    )
    .into_response()
}

pub(super) async fn hover() -> Response {
    Error::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "not written yet",
    )
    .into_response()
}
