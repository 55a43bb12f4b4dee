//! The API's error bodies, in the two shapes the seeds use, and the one place they become
//! responses (each refusal is logged once, here):
//!
//! - the hosted platforms' shape (seeds 000–002, also used by Parley's own endpoints):
//!   `{"success": false, "error": "…", "error_code": "…"}`, plus `session_status` on
//!   `SESSION_EXPIRED` and `field` when one request field is at fault;
//! - seed 003's shape at `/api/v1/…`: `{"error": "bad_request", "message": "…"}` for bad
//!   input (400) and `{"detail": "…"}` for everything else (401, 403, 404, 422, 429, 503).
//!
//! `json_errors` rewrites any plain-text error axum produces itself (413 body too large,
//! 405 method not allowed) into the shape of the path's family.

use super::session::SessionStatus;
use crate::store::StoreError;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// Which error shape a path answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Platform,
    Waplify,
}

impl Family {
    pub fn of(path: &str) -> Self {
        if path.starts_with("/api/v1/") {
            Family::Waplify
        } else {
            Family::Platform
        }
    }
}

/// A refusal in the hosted platforms' shape.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Boxed: keeps `Result<_, ApiError>` small.
    pub session_status: Option<Box<SessionStatus>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            session_status: None,
        }
    }

    /// 422 `VALIDATION_ERROR` naming the field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            message,
        );
        e.field = Some(field.to_string());
        e
    }

    pub fn sender_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "SENDER_NOT_FOUND",
            "Sender not found or does not belong to you",
        )
    }

    pub fn sender_offline() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SENDER_OFFLINE",
            "Sender is not online. Current status: Offline",
        )
    }

    pub fn insufficient_balance() -> Self {
        Self::new(
            StatusCode::PAYMENT_REQUIRED,
            "INSUFFICIENT_BALANCE",
            "Insufficient balance. Please top up your account.",
        )
    }

    pub fn session_expired(status: SessionStatus) -> Self {
        let mut e = Self::new(
            StatusCode::FORBIDDEN,
            "SESSION_EXPIRED",
            "The 24-hour messaging window is closed. Customer must reply first, or use a template message.",
        );
        e.session_status = Some(Box::new(status));
        e
    }

    pub fn conversation_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "CONVERSATION_NOT_FOUND",
            "Conversation not found",
        )
    }
}

/// What a client is told when the database failed; the driver's text goes to the log only
/// (it can name tables, files, hosts and users).
pub const DATABASE_UNAVAILABLE: &str = "the database could not be reached, please retry";

/// Logs a database error with its detail, for an answer that will not carry it.
pub fn log_store_error(e: &StoreError) {
    tracing::error!(error = %e, "database error while answering an API request");
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        log_store_error(&e);
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            DATABASE_UNAVAILABLE,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        log(self.status, self.code, &self.message);
        let mut body = json!({ "success": false, "error": self.message, "error_code": self.code });
        if let Some(field) = self.field {
            body["field"] = Value::String(field);
        }
        if let Some(s) = self.session_status {
            body["session_status"] = serde_json::to_value(s).unwrap_or(Value::Null);
        }
        (self.status, Json(body)).into_response()
    }
}

/// A refusal in seed 003's shapes.
#[derive(Debug)]
pub enum WapError {
    /// 400 `{"error": "bad_request", "message": …}`
    BadRequest(String),
    /// `{"detail": …}` with any other status.
    Detail(StatusCode, String),
}

impl WapError {
    pub fn bad(message: impl Into<String>) -> Self {
        WapError::BadRequest(message.into())
    }

    pub fn detail(status: StatusCode, message: impl Into<String>) -> Self {
        WapError::Detail(status, message.into())
    }
}

impl From<StoreError> for WapError {
    fn from(e: StoreError) -> Self {
        log_store_error(&e);
        WapError::Detail(StatusCode::SERVICE_UNAVAILABLE, DATABASE_UNAVAILABLE.into())
    }
}

impl IntoResponse for WapError {
    fn into_response(self) -> Response {
        match self {
            WapError::BadRequest(message) => {
                log(StatusCode::BAD_REQUEST, "bad_request", &message);
                (
                    StatusCode::BAD_REQUEST,
                    Json(json!({ "error": "bad_request", "message": message })),
                )
                    .into_response()
            }
            WapError::Detail(status, message) => {
                log(status, "detail", &message);
                (status, Json(json!({ "detail": message }))).into_response()
            }
        }
    }
}

fn log(status: StatusCode, code: &str, message: &str) {
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), code, %message, "API request failed");
    } else {
        tracing::warn!(status = status.as_u16(), code, %message, "API request refused");
    }
}

/// An error response of the given family: the platform shape with `code`, or seed 003's.
pub fn family_error(
    family: Family,
    status: StatusCode,
    code: &'static str,
    message: String,
) -> Response {
    match family {
        Family::Platform => ApiError::new(status, code, message).into_response(),
        Family::Waplify if status == StatusCode::BAD_REQUEST => {
            WapError::BadRequest(message).into_response()
        }
        Family::Waplify => WapError::Detail(status, message).into_response(),
    }
}

/// Unknown paths under `/api/`.
pub async fn not_found(request: Request) -> Response {
    let path = request.uri().path().to_string();
    family_error(
        Family::of(&path),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("no API endpoint at {path}; see /api/openapi.json"),
    )
}

/// Rewrites error responses that are not JSON (axum's own rejections) into JSON.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let family = Family::of(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "PAYLOAD_TOO_LARGE",
            format!(
                "the request body is larger than {} bytes",
                super::MAX_BODY_BYTES
            ),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "METHOD_NOT_ALLOWED",
            "this endpoint does not accept that method; see /api/openapi.json".to_string(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("UNSUPPORTED_MEDIA_TYPE", text),
        s if s.is_server_error() => {
            tracing::error!(status = s.as_u16(), detail = %text, "internal error");
            ("INTERNAL_ERROR", "internal error".to_string())
        }
        _ => ("BAD_REQUEST", text),
    };
    let mut rewritten = family_error(family, status, code, message);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

/// Adds `Retry-After` to a response.
pub fn with_retry_after(mut response: Response, seconds: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}
