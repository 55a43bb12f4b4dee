//! Errors at the HTTP edge: one enum, one `IntoResponse`, a log line for each.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    /// The request was fine but could not be stored; the provider should retry.
    #[error("{0}")]
    Unavailable(String),
}

impl HttpError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            HttpError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            HttpError::Forbidden(_) => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            HttpError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            HttpError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let message = self.to_string();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), %message, "request failed");
        } else {
            tracing::warn!(status = status.as_u16(), %message, "request refused");
        }
        (
            status,
            Json(json!({ "success": false, "error": message, "error_code": code })),
        )
            .into_response()
    }
}
