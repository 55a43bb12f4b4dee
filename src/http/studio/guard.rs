//! Who may use the studio. Unless `studio.expose`, only this machine: the sandbox's rules
//! (`local_pages::foreign`: a loopback `Host`, no proxy's headers, a body posted only from
//! a loopback page), and every save is recorded as made by `local`. An exposed studio
//! serves its page and assets to anyone (they hold no data: the page asks for a key) and
//! answers `/studio/api/…` only with `Authorization: Bearer <key>` of an `api_keys` entry
//! named in `studio.editors` (401 without a known key, 403 with a key that may not edit),
//! checked as the API checks keys (`api::auth`: one SHA-256, constant-time comparisons;
//! an expired key is refused 401, a key whose scopes lack `flows` 403, by `api::scopes`).
//! Either way a request with a body must say it is JSON: a page of another site cannot
//! send that without asking first, so it cannot post into the studio. Who it is goes into
//! the request's extensions as an [`Editor`] for the handlers.

use super::super::api::auth::{bearer, template, ApiAuth};
use super::super::api::scopes;
use super::super::error::Error;
use super::super::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// Who is editing: an API key's name, or `local` on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Editor(pub(super) String);

/// The editor of requests from this machine when the studio is not exposed.
const LOCAL: &str = "local";

/// Loopback only unless `studio.expose`; then an API key named in `studio.editors`.
pub(super) async fn editors_only(
    State(st): State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match admit(&st, &request) {
        Ok(Some(editor)) => {
            request.extensions_mut().insert(editor);
            next.run(request).await
        }
        Ok(None) => next.run(request).await,
        Err(refusal) => {
            let unauthorized = refusal.status == StatusCode::UNAUTHORIZED;
            let mut response = refusal.into_response();
            if unauthorized {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            response
        }
    }
}

/// Who sent `request` (`None` for the page of an exposed studio, which needs no key), or
/// the refusal.
fn admit(st: &AppState, request: &axum::extract::Request) -> Result<Option<Editor>, Error> {
    let studio = &st.config.studio;
    if !studio.expose {
        if let Some(why) = super::super::local_pages::foreign(request) {
            return Err(Error::forbidden(format!(
                "the studio answers only requests to this machine (127.0.0.1, localhost or \
                 [::1]), not one {why}: a web page on another name could reach it by pointing \
                 that name at 127.0.0.1; open http://127.0.0.1:<port>/studio, or set \
                 `studio: {{ expose: true, editors: [<api key name>] }}` when a proxy you trust \
                 forwards to it under another name"
            )));
        }
    }
    if !is_safe(request.method()) && !is_json(request.headers()) {
        return Err(Error::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "the studio API takes a POST only with Content-Type: application/json (a web page \
             cannot send that header to another site without asking, so none can save flows \
             through the studio)",
        ));
    }
    if !studio.expose {
        return Ok(Some(Editor(LOCAL.to_string())));
    }
    if !request.uri().path().starts_with("/studio/api/") {
        return Ok(None);
    }
    let Some(token) = bearer(request) else {
        return Err(Error::unauthorized(
            "this studio is exposed: send the API key of an editor as `Authorization: Bearer \
             <key>` (the keys named in `studio.editors`)",
        ));
    };
    let auth = ApiAuth::new(&st.config);
    let Some((index, name)) = auth
        .identify(token)
        .and_then(|i| auth.name(i).map(|n| (i, n)))
    else {
        return Err(Error::unauthorized(
            "Invalid API key: it is not one of the config's `api_keys`",
        ));
    };
    if let Some(why) = auth.expired(index, st.clock.now()) {
        return Err(Error::unauthorized(why));
    }
    let route = template(request);
    if let Some(why) = auth
        .config(index)
        .and_then(|k| scopes::refusal(k, request.method().as_str(), &route))
    {
        return Err(Error::forbidden(why));
    }
    if !studio.editors.iter().any(|e| e == name) {
        return Err(Error::forbidden(format!(
            "the API key `{name}` may not edit flows: add its name to `studio.editors` in the \
             config to let it"
        )));
    }
    Ok(Some(Editor(name.to_string())))
}

/// A method that carries no body to act on.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `Content-Type: application/json`, with or without parameters.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}
