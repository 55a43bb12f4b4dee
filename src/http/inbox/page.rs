//! The inbox page (`GET /inbox`) and its files (`GET /inbox/assets/{name}`), embedded in
//! the binary so that the inbox works offline: no CDN, no fonts from elsewhere. The page
//! holds no data: it asks for an API key, keeps it in the tab's `sessionStorage` and sends
//! it as `Authorization: Bearer` to `/api/inbox/…`.

use super::super::error::Error;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The page, with the headers of Parley's other pages (no framing, this origin only).
pub(super) async fn page() -> Response {
    super::super::local_pages::page_response(include_str!("assets/inbox.html"))
}

/// An embedded file by name; an unknown name is 404.
pub(super) async fn asset(Path(name): Path<String>) -> Response {
    let Some((body, kind)) = embedded(&name) else {
        return Error::not_found(format!(
            "the inbox has no file `{}`",
            name.chars().take(60).collect::<String>()
        ))
        .into_response();
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            // Named without a version: a new build must be fetched afresh.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The embedded file called `name` and its content type.
fn embedded(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "inbox.js" => (
            include_str!("assets/inbox.js"),
            "text/javascript; charset=utf-8",
        ),
        "inbox.css" => (include_str!("assets/inbox.css"), "text/css; charset=utf-8"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::embedded;

    #[test]
    fn every_file_the_page_names_is_embedded() {
        let page = include_str!("assets/inbox.html");
        for name in ["inbox.js", "inbox.css"] {
            assert!(page.contains(&format!("/inbox/assets/{name}")), "{name}");
            assert!(embedded(name).is_some_and(|(body, _)| !body.is_empty()));
        }
        assert!(embedded("../page.rs").is_none());
        assert!(embedded("nothing.js").is_none());
    }
}
