//! What a person who opens Parley's address in a browser, or mistypes a path, is told:
//! `GET /` (the sandbox when it is on, otherwise a page of links), `/sandbox/` (to
//! `/sandbox`), and the answer to every path no router serves — a 404 that names what
//! does exist, in the JSON error shape of the path's family under `/api`, `/webhooks` and
//! `/sandbox/api`, in plain text elsewhere; under `/sandbox` while the sandbox is off, why
//! it is off and which config key turns it on.
//!
//! Nothing here reads a request body or stores anything; the path echoed back is
//! shortened and served as text (`nosniff`) or JSON only.

use super::error::{render, Error, Family};
use super::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// The longest piece of a request path an answer repeats.
const MAX_ECHOED_PATH: usize = 120;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/sandbox/", get(|| async { Redirect::to("/sandbox") }))
}

/// `GET /`: the sandbox page when it is served; otherwise links to what is.
async fn root(State(st): State<AppState>) -> Response {
    match st.sandbox.off_reason() {
        None => Redirect::to("/sandbox").into_response(),
        Some(why) => Html(INDEX.replace("{SANDBOX}", &escape(&why))).into_response(),
    }
}

const INDEX: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Parley</title>
<style>body { font: 15px/1.5 system-ui, sans-serif; max-width: 44em; margin: 2em auto; padding: 0 1em; color: #111b21; } code { background: #f0f2f5; padding: 0 3px; border-radius: 3px; }</style>
</head>
<body>
<h1>Parley is running</h1>
<p>{SANDBOX}</p>
<ul>
<li><a href="/healthz">/healthz</a> — the process answers</li>
<li><a href="/readyz">/readyz</a> — the database answers and the flows are loaded</li>
<li><a href="/metrics">/metrics</a> — Prometheus metrics</li>
<li><a href="/api/openapi.json">/api/openapi.json</a> — the API's endpoints (OpenAPI; the API itself needs an API key)</li>
</ul>
<p>Providers post to <code>/webhooks/meta</code> and <code>/webhooks/twilio</code>.
README.md, which comes with Parley, explains the configuration, flows, the sandbox and the API.</p>
</body>
</html>
"#;

/// Every path no router serves.
pub async fn fallback(State(st): State<AppState>, uri: Uri) -> Response {
    let path = uri.path();
    // The Insights page is served by the sandbox's rules, and off with it.
    if path == "/sandbox" || path.starts_with("/sandbox/") || path == "/insights" {
        if let Some(why) = st.sandbox.off_reason() {
            return match json_family(path) {
                Some(family) => render(
                    family,
                    &Error::new(StatusCode::NOT_FOUND, "SANDBOX_OFF", why),
                ),
                None => text(StatusCode::NOT_FOUND, why),
            };
        }
    }
    let message = nothing_at(path, st.sandbox.serves_http());
    match json_family(path) {
        Some(family) => render(family, &Error::not_found(message)),
        None => text(StatusCode::NOT_FOUND, message),
    }
}

/// The 404 message: the path does not exist, and what does.
pub fn nothing_at(path: &str, sandbox_on: bool) -> String {
    let shown: String = path.chars().take(MAX_ECHOED_PATH).collect();
    let more = if shown.len() < path.len() { "…" } else { "" };
    let sandbox = if sandbox_on {
        "/sandbox (chat with the flows as a customer)"
    } else {
        "/sandbox (off in this config)"
    };
    format!(
        "There is nothing at {shown}{more}. Parley answers at /webhooks/meta and /webhooks/twilio \
         (provider webhooks), /api/… (the API; /api/openapi.json lists its endpoints), {sandbox}, \
         /healthz, /readyz and /metrics."
    )
}

/// The JSON error family of a path that programs call, `None` for pages.
fn json_family(path: &str) -> Option<Family> {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    (under("/api") || under("/webhooks") || under("/sandbox/api")).then(|| Family::of(path))
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_get_json_and_pages_get_text() {
        assert_eq!(json_family("/api"), Some(Family::UserWhatsapp));
        assert_eq!(json_family("/api/v1/nope"), Some(Family::MessagesV1));
        assert_eq!(json_family("/webhooks/nope"), Some(Family::Webhooks));
        assert_eq!(json_family("/sandbox/api/nope"), Some(Family::Sandbox));
        for page in ["/", "/apix", "/sandbox", "/sandbox/apis", "/favicon.ico"] {
            assert_eq!(json_family(page), None, "{page}");
        }
    }

    #[test]
    fn a_long_path_is_shortened_in_the_answer() {
        let path = format!("/{}", "a".repeat(10_000));
        let m = nothing_at(&path, true);
        assert!(m.len() < 600, "{m}");
        assert!(m.contains("a…. Parley answers"), "{m}");
    }
}
