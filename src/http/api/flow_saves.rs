//! `GET /api/flows/saves?path=flows/welcome.yaml`: the studio's saves of a project file,
//! newest first (at most `store::MAX_FLOW_SAVES`), for audit: who saved (an API key's
//! name, or `local`), when, the versions (SHA-256 of the text saved and of the text it
//! replaced) and the diff. The texts themselves stay in the studio (restore).

use crate::http::api::body::Fields;
use crate::http::error::Error;
use crate::http::state::AppState;
use crate::store::MAX_FLOW_SAVES;
use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

/// The longest path asked for.
const MAX_PATH_CHARS: usize = 1_024;

pub async fn list(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Error> {
    let q = Fields::from_query(query.as_deref());
    let path = q.opt_str("path")?.unwrap_or_default();
    let plain = !path.is_empty()
        && path.chars().count() <= MAX_PATH_CHARS
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..");
    if !plain {
        return Err(Error::field(
            "path",
            "name the file from the project folder, like `?path=flows/welcome.yaml`",
        ));
    }
    let saves = st.store.flow_saves(path, MAX_FLOW_SAVES).await?;
    Ok(Json(
        json!({ "success": true, "path": path, "saves": saves }),
    ))
}
