//! Save (atomic, refused over a newer save), the saves' history, restore. (being written: issue 56)

use super::super::error::Error;
use axum::response::{IntoResponse, Response};

pub(super) async fn save() -> Response {
    Error::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "not written yet",
    )
    .into_response()
}

pub(super) async fn history() -> Response {
    Error::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "not written yet",
    )
    .into_response()
}

pub(super) async fn restore() -> Response {
    Error::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "not written yet",
    )
    .into_response()
}
