//! Errors at the HTTP edge: one enum, one `IntoResponse`, a log line for each. A server
//! error's detail (a database driver's text) is logged and never sent to the client.

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
    /// The request was fine but could not be stored; the provider should retry. The text
    /// (a database error) is logged, never sent: the client is told `UNAVAILABLE_MESSAGE`.
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

/// What a client is told instead of a database error.
pub const UNAVAILABLE_MESSAGE: &str = "the request could not be stored, please retry";

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let mut message = self.to_string();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), detail = %message, "request failed");
            message = UNAVAILABLE_MESSAGE.to_string();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unavailable_answer_carries_no_database_text() {
        let response =
            HttpError::Unavailable("could not store: no such table: events (sqlite)".into())
                .into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(UNAVAILABLE_MESSAGE), "{text}");
        assert!(
            !text.contains("no such table") && !text.contains("sqlite"),
            "{text}"
        );
    }
}
