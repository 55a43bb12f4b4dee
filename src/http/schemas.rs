//! The JSON Schemas of flow files, flow test files and the config, served for editors:
//! `GET /schemas/flow.schema.json`, `/schemas/flow-test.schema.json` and
//! `/schemas/config.schema.json` (the files `parley schema DIR` writes). They describe the
//! language, not the deployment, so they need no API key; each is built and written out
//! once, on the first request.

use super::state::AppState;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::OnceLock;

/// `GET /schemas/{name}`: one of the schema files, by name.
pub fn router() -> Router<AppState> {
    Router::new().route("/schemas/{name}", get(schema))
}

/// Every schema file's name and its text, pretty-printed.
fn files() -> &'static [(&'static str, String)] {
    static FILES: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    FILES.get_or_init(|| {
        crate::studio::schema::schema_files()
            .into_iter()
            .map(|(name, schema)| {
                let text = serde_json::to_string_pretty(&schema).expect("a schema is JSON");
                (name, text)
            })
            .collect()
    })
}

async fn schema(Path(name): Path<String>) -> Response {
    match files().iter().find(|(n, _)| *n == name) {
        Some((_, text)) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            text.clone(),
        )
            .into_response(),
        None => {
            let names: Vec<&str> = files().iter().map(|(n, _)| *n).collect();
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("no schema `{name}`; the schemas are {}", names.join(", ")),
            )
                .into_response()
        }
    }
}
