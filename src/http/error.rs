//! Errors at the HTTP edge: one value, [`Error`], for every refusal of every router, and
//! the one place it becomes a response body ([`render`]), in the shape of the API family
//! the request's path belongs to ([`Family::of`]):
//!
//! - [`Family::UserWhatsapp`], `/api/user/whatsapp/…` (the hosted platforms' send API) and
//!   Parley's own `/api/…` endpoints: `{"success": false, "error": "…", "error_code": "…"}`,
//!   plus `field` when one request field is at fault and `session_status` on
//!   `SESSION_EXPIRED`;
//! - [`Family::MessagesV1`], `/api/v1/…`: `{"error": "bad_request", "message": "…"}` for a
//!   400 and `{"detail": "…"}` for every other status;
//! - [`Family::Sandbox`], `/sandbox/…`: `{"error": "<code in lower case>", "message": "…"}`;
//! - [`Family::Webhooks`], `/webhooks/…`: the `UserWhatsapp` shape.
//!
//! Handlers return `Err(Error)`; its `IntoResponse` only carries it to the
//! [`render_errors`] middleware around the API, sandbox and webhook routers, which knows the
//! path, renders the body and logs the refusal once. The middleware also rewrites axum's
//! own plain-text rejections (413 body too large, naming the route's limit from
//! [`WithBodyLimit`]; 405 method not allowed; 415; a query string it cannot read) into the
//! family's shape, so every answer of these routers is JSON. Path parameters are read as
//! text with [`PathParam`], which handlers parse themselves: a value that is not a valid id
//! is "nothing has it" (404), never Rust's parse error.
//!
//! A database error's text is logged and never sent (it can name tables, files, hosts and
//! users): `From<StoreError>` logs it and keeps only [`DATABASE_UNAVAILABLE`]; the sandbox
//! and webhook shapes say [`NOT_STORED`] for every server error ([`NOT_READ`] for a read).

use crate::domain::session::SessionStatus;
use crate::store::StoreError;
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// Which error shape a path answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `/api/user/whatsapp/…` and Parley's own `/api/…`.
    UserWhatsapp,
    /// `/api/v1/…` (`POST /api/v1/messages/send-message`).
    MessagesV1,
    /// `/sandbox/…`, and the studio's `/studio/…` in the same shape.
    Sandbox,
    /// `/webhooks/…`.
    Webhooks,
}

impl Family {
    pub fn of(path: &str) -> Self {
        if path.starts_with("/api/v1/") {
            Family::MessagesV1
        } else if path == "/sandbox"
            || path.starts_with("/sandbox/")
            || path == "/studio"
            || path.starts_with("/studio/")
        {
            Family::Sandbox
        } else if path.starts_with("/webhooks/") {
            Family::Webhooks
        } else {
            Family::UserWhatsapp
        }
    }
}

/// A refusal: what went wrong, for every family's shape.
#[derive(Debug, Clone)]
pub struct Error {
    pub status: StatusCode,
    /// Machine-readable, upper snake case (`SENDER_NOT_FOUND`): `error_code` in the
    /// `UserWhatsapp` shape, `error` in lower case in the sandbox's.
    pub code: &'static str,
    pub message: String,
    /// The request field at fault.
    pub field: Option<String>,
    /// Boxed: keeps `Result<_, Error>` small.
    pub session_status: Option<Box<SessionStatus>>,
}

/// What an API client is told when the database failed.
pub const DATABASE_UNAVAILABLE: &str = "the database could not be reached, please retry";

/// What the sandbox and webhook shapes say for a server error of a request that stores
/// (a provider retries).
pub const NOT_STORED: &str = "the request could not be stored, please retry";

/// What they say for a server error of a read (`GET`, `HEAD`), which stores nothing.
pub const NOT_READ: &str = "the data could not be read, please retry";

impl Error {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            session_status: None,
        }
    }

    /// Names the request field at fault.
    pub fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }

    /// 422 `VALIDATION_ERROR` naming the field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            message,
        )
        .with_field(field)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    /// 400 `INVALID_REQUEST`, the API's documented code for a request it cannot read.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }

    /// 503: the request was fine but could not be served now; the client should retry.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message)
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

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "database error while answering a request");
        Self::unavailable(DATABASE_UNAVAILABLE)
    }
}

impl IntoResponse for Error {
    /// The status, with the error for [`render_errors`] to write in the family's shape.
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// The response of `e` in `family`'s shape; logs it (a refusal as a warning, a server
/// error as an error, with the text the client does not see).
pub fn render(family: Family, e: &Error) -> Response {
    render_answer(family, false, e)
}

/// [`render`] for a request that only reads (`reads`) or may store.
fn render_answer(family: Family, reads: bool, e: &Error) -> Response {
    let status = e.status;
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // "Please retry": during an outage or an overload every request gets it, and a line
        // each would bury the log (the metrics count every one).
        crate::metrics::logs::log_every!(warn, status = status.as_u16(), code = e.code, detail = ?e.message, "requests answered 503");
    } else if matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
    ) {
        // Anyone can send requests without a key, as fast as they like: a line each would
        // let them fill the disk (the auth layer's own line is throttled too).
        crate::metrics::logs::log_every!(warn, status = status.as_u16(), code = e.code, detail = ?e.message, "requests refused for their key or their rate");
    } else if status.is_server_error() {
        tracing::error!(status = status.as_u16(), code = e.code, detail = ?e.message, "request failed");
    } else {
        tracing::warn!(status = status.as_u16(), code = e.code, detail = ?e.message, "request refused");
    }
    let hidden = status.is_server_error() && matches!(family, Family::Sandbox | Family::Webhooks);
    let message = match (hidden, reads) {
        (false, _) => &e.message,
        (true, false) => NOT_STORED,
        (true, true) => NOT_READ,
    };
    let body = match family {
        Family::UserWhatsapp | Family::Webhooks => {
            let mut body = json!({ "success": false, "error": message, "error_code": e.code });
            if let Some(field) = &e.field {
                body["field"] = Value::String(field.clone());
            }
            if let Some(s) = &e.session_status {
                body["session_status"] = serde_json::to_value(s).unwrap_or(Value::Null);
            }
            body
        }
        Family::MessagesV1 if status == StatusCode::BAD_REQUEST => {
            json!({ "error": "bad_request", "message": message })
        }
        Family::MessagesV1 => json!({ "detail": message }),
        Family::Sandbox => {
            json!({ "error": e.code.to_ascii_lowercase(), "message": message })
        }
    };
    (status, Json(body)).into_response()
}

/// Writes every [`Error`] a handler or inner middleware returned in the shape of the
/// request's family, keeping the response's other headers (`WWW-Authenticate`,
/// `Retry-After`); turns axum's plain-text rejections into errors first.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let family = Family::of(request.uri().path());
    let reads = matches!(*request.method(), Method::GET | Method::HEAD);
    let mut response = next.run(request).await;
    let (error, headers) = if let Some(e) = response.extensions_mut().remove::<Error>() {
        (e, response.into_parts().0.headers)
    } else if is_plain_error(&response) {
        let limit = response.extensions().get::<BodyLimit>().map(|l| l.0);
        let (parts, body) = response.into_parts();
        (
            rejection(family, parts.status, limit, body).await,
            parts.headers,
        )
    } else {
        return response;
    };
    let mut rendered = render_answer(family, reads, &error);
    for (name, value) in headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered
}

/// An error status whose body is not JSON: one of axum's own rejections.
fn is_plain_error(response: &Response) -> bool {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    (status.is_client_error() || status.is_server_error()) && !is_json
}

/// The error an axum rejection stands for; `limit`, the route's body limit (for a 413).
async fn rejection(
    family: Family,
    status: StatusCode,
    limit: Option<usize>,
    body: axum::body::Body,
) -> Error {
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "PAYLOAD_TOO_LARGE",
            match limit {
                Some(bytes) => format!(
                    "the request body is larger than {} ({bytes} bytes), this endpoint's limit",
                    in_units(bytes)
                ),
                None => "the request body is larger than this endpoint takes".to_string(),
            },
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "METHOD_NOT_ALLOWED",
            match family {
                Family::UserWhatsapp | Family::MessagesV1 => {
                    "this endpoint does not accept that method; see /api/openapi.json"
                }
                Family::Sandbox => {
                    "this endpoint does not accept that method; README's \"The sandbox page and API\" lists them"
                }
                Family::Webhooks => "this endpoint does not accept that method",
            }
            .to_string(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("UNSUPPORTED_MEDIA_TYPE", text),
        s if s.is_server_error() => {
            tracing::error!(status = s.as_u16(), detail = %text, "internal error");
            ("INTERNAL_ERROR", "internal error".to_string())
        }
        // The sandbox's own refusals of bad input say `bad_request`.
        _ if family == Family::Sandbox => ("BAD_REQUEST", text),
        _ => ("INVALID_REQUEST", text),
    };
    Error::new(status, code, message)
}

/// `bytes` as a person writes it: `64 KiB`, `1 MiB`.
fn in_units(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    if bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// The body limit of a route, noted on its 413 for [`render_errors`] to name.
#[derive(Debug, Clone, Copy)]
struct BodyLimit(usize);

/// Limits request bodies to `bytes` (on a router, those of its routes without a limit of
/// their own) and lets a 413 name the limit. Apply it before [`render_errors`], which
/// must see the note.
pub trait WithBodyLimit {
    fn with_body_limit(self, bytes: usize) -> Self;
}

impl<S: Clone + Send + Sync + 'static> WithBodyLimit for axum::Router<S> {
    fn with_body_limit(self, bytes: usize) -> Self {
        self.layer(axum::middleware::from_fn_with_state(bytes, note_limit))
            .layer(axum::extract::DefaultBodyLimit::max(bytes))
    }
}

impl<S: Clone + Send + Sync + 'static> WithBodyLimit for axum::routing::MethodRouter<S> {
    fn with_body_limit(self, bytes: usize) -> Self {
        self.layer::<_, std::convert::Infallible>(axum::middleware::from_fn_with_state(
            bytes, note_limit,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(bytes))
    }
}

/// Notes `bytes` on a 413, unless a route's own (inner) limit noted it already.
async fn note_limit(
    axum::extract::State(bytes): axum::extract::State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE
        && response.extensions().get::<BodyLimit>().is_none()
    {
        response.extensions_mut().insert(BodyLimit(bytes));
    }
    response
}

/// A path parameter as text, for the handler to parse: axum's `Path<i64>` answers a
/// mistake with Rust's words ("Cannot parse `abc` to a `i64`") and 400, where the API
/// says 404 for an id nothing has. A value that is not UTF-8 once percent-decoded (`%ff`)
/// is such an id too.
#[derive(Debug, Clone)]
pub struct PathParam(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathParam {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Error> {
        use axum::extract::path::ErrorKind;
        use axum::extract::rejection::PathRejection;
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParam(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => match e.kind() {
                ErrorKind::InvalidUtf8InPathParam { key } => Err(Error::not_found(format!(
                    "nothing has this `{key}`: once percent-decoded it is not UTF-8 text"
                ))),
                other => Err(Error::invalid_request(format!(
                    "the path could not be read: {other}"
                ))),
            },
            Err(other) => {
                tracing::error!(rejection = %other, "a route reads a path parameter it lacks");
                Err(Error::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_ERROR",
                    "internal error",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refusal quotes what the client sent: a line break in it is escaped, so a client
    /// cannot write a line of its own into the log (`?by=x%0A… ERROR …`).
    #[test]
    fn a_refusal_logs_what_the_client_sent_on_one_line() {
        let text = crate::metrics::logs::logs_of(|| {
            render(
                Family::UserWhatsapp,
                &Error::invalid_request(
                    "`x\n2026-11-27T19:00:00Z ERROR parley::app: FAKE` is not a grouping",
                ),
            );
        });
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("x\\n2026"), "{text}");
    }

    /// Requests refused for their key or rate (401, 429) and answered 503 come as fast as
    /// anyone sends them, or all at once in an outage: the log gets a line per period, not
    /// one each (a 500 is still logged each time, at ERROR).
    #[test]
    fn floods_of_refusals_are_logged_once_per_period() {
        for refusal in [
            Error::unauthorized("a Bearer key is required"),
            Error::unavailable("could not store the webhook now"),
        ] {
            let text = crate::metrics::logs::logs_of(|| {
                for _ in 0..50 {
                    render(Family::Webhooks, &refusal);
                }
            });
            // At most one: another test's refusal in the same period may have taken it.
            assert!(text.lines().count() <= 1, "{}: {text}", refusal.status);
            assert!(text.is_empty() || text.contains("WARN"), "{text}");
        }
    }

    async fn body_of(response: Response) -> (StatusCode, String) {
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn an_unavailable_answer_carries_no_database_text() {
        let e = Error::unavailable("could not store: no such table: events (sqlite)");
        for family in [Family::Webhooks, Family::Sandbox] {
            let (status, text) = body_of(render(family, &e)).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(text.contains(NOT_STORED), "{text}");
            assert!(
                !text.contains("no such table") && !text.contains("sqlite"),
                "{text}"
            );
        }
        let e = Error::from(StoreError::Corrupt("no such table: events (sqlite)".into()));
        for family in [
            Family::UserWhatsapp,
            Family::MessagesV1,
            Family::Sandbox,
            Family::Webhooks,
        ] {
            let (status, text) = body_of(render(family, &e)).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(
                !text.contains("no such table") && !text.contains("sqlite"),
                "{family:?}: {text}"
            );
        }
    }

    #[tokio::test]
    async fn each_family_has_its_shape() {
        let e = Error::field("message", "message must not be empty");
        let cases = [
            (
                Family::UserWhatsapp,
                json!({"success": false, "error": "message must not be empty",
                       "error_code": "VALIDATION_ERROR", "field": "message"}),
            ),
            (
                Family::MessagesV1,
                json!({"detail": "message must not be empty"}),
            ),
            (
                Family::Sandbox,
                json!({"error": "validation_error", "message": "message must not be empty"}),
            ),
        ];
        for (family, expected) in cases {
            let (_, text) = body_of(render(family, &e)).await;
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), expected);
        }
        let (status, text) = body_of(render(Family::MessagesV1, &Error::bad_request("no"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"error": "bad_request", "message": "no"})
        );
    }

    #[test]
    fn families_follow_the_path() {
        assert_eq!(Family::of("/api/user/whatsapp/send"), Family::UserWhatsapp);
        assert_eq!(Family::of("/api/conversations"), Family::UserWhatsapp);
        assert_eq!(
            Family::of("/api/v1/messages/send-message"),
            Family::MessagesV1
        );
        assert_eq!(Family::of("/sandbox/api/messages"), Family::Sandbox);
        assert_eq!(Family::of("/webhooks/meta"), Family::Webhooks);
    }
}
