//! The studio page and its embedded assets. (being written: issue 56)

use super::super::error::Error;
use axum::response::{IntoResponse, Response};

pub(super) async fn page() -> Response {
    Error::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "not written yet",
    )
    .into_response()
}

pub(super) async fn asset() -> Response {
    Error::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "not written yet",
    )
    .into_response()
}
