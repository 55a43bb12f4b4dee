//! `GET /api/knowledge` and `POST /api/knowledge/refresh` (issue 59): the web knowledge
//! sources of the loaded flows, their pages and fetches.
//!
//! The list answers `{"sources": [{source, used_by, pages, fetched_at, next_fetch_at,
//! error, failures}]}`, by address (a source appears once the running flows named it).
//! A refresh makes every source (or the one `{"source": "…"}` names) due now and answers
//! 202 with those scheduled; 404 when the named source is not known; 422 for a body that
//! is not that object.

use crate::http::error::Error;
use crate::http::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub async fn list(State(st): State<AppState>) -> Result<Response, Error> {
    let sources = st.store.knowledge_sources().await?;
    Ok(Json(json!({ "sources": sources })).into_response())
}

pub async fn refresh(State(st): State<AppState>, body: Bytes) -> Result<Response, Error> {
    let source = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| Error::invalid_request(format!("the body is not JSON: {e}")))?;
        match v.as_object().map(|o| (o.len(), o.get("source"))) {
            Some((0, None)) => None,
            Some((1, Some(Value::String(s)))) => Some(s.clone()),
            _ => {
                return Err(Error::invalid_request(
                    "send no body (every source) or {\"source\": \"https://…\"} (one source)",
                ))
            }
        }
    };
    let scheduled = st
        .store
        .knowledge_due_now(source.as_deref(), st.clock.now())
        .await?;
    if let (Some(s), true) = (&source, scheduled.is_empty()) {
        return Err(Error::not_found(format!(
            "no knowledge source `{s}`: `GET /api/knowledge` lists them"
        )));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "scheduled": scheduled })),
    )
        .into_response())
}
