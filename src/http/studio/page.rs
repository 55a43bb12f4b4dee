//! The studio page (`GET /studio`) and the files it loads (`GET /studio/assets/{name}`),
//! all embedded in the binary so that the studio works offline: no CDN, no fonts from
//! elsewhere. `editor.js` is the CodeMirror bundle built by `studio-editor/build.sh` and
//! committed (Parley never needs Node.js); `studio.js` and `studio.css` are the page's own.

use super::super::error::Error;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The page, with the headers of the sandbox's pages (no framing, this origin only).
pub(super) async fn page() -> Response {
    super::super::local_pages::page_response(include_str!("page.html"))
}

/// An embedded file by name, cached for a day (the page names them with the version of
/// Parley that serves them, so a new build is fetched afresh); an unknown name is 404.
pub(super) async fn asset(Path(name): Path<String>) -> Response {
    let Some((body, kind)) = embedded(&name) else {
        return Error::not_found(format!(
            "the studio has no file `{}`",
            name.chars().take(60).collect::<String>()
        ))
        .into_response();
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=86400, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The embedded file called `name` and its content type.
fn embedded(name: &str) -> Option<(&'static str, &'static str)> {
    const JS: &str = "text/javascript; charset=utf-8";
    Some(match name {
        "editor.js" => (include_str!("assets/editor.js"), JS),
        "studio.js" => (include_str!("assets/studio.js"), JS),
        "graph.js" => (include_str!("assets/graph.js"), JS),
        "studio.css" => (include_str!("assets/studio.css"), "text/css; charset=utf-8"),
        "LICENSES.txt" => (
            include_str!("assets/LICENSES.txt"),
            "text/plain; charset=utf-8",
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::embedded;

    #[test]
    fn every_file_the_page_names_is_embedded() {
        let page = include_str!("page.html");
        for name in ["editor.js", "studio.js", "graph.js", "studio.css"] {
            assert!(page.contains(&format!("/studio/assets/{name}")), "{name}");
            assert!(embedded(name).is_some_and(|(body, _)| !body.is_empty()));
        }
        assert!(embedded("../page.rs").is_none());
        assert!(embedded("nothing.js").is_none());
    }
}
