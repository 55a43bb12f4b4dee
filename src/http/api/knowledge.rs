//! `GET /api/knowledge` and `POST /api/knowledge/refresh` (issue 59): the web knowledge
//! sources of the loaded flows, their pages and fetches.

use crate::http::error::Error;
use crate::http::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

pub async fn list(State(st): State<AppState>) -> Result<Response, Error> {
    let _ = st;
    Err(Error::not_found("not built yet"))
}

pub async fn refresh(State(st): State<AppState>) -> Result<Response, Error> {
    let _ = st;
    Ok(().into_response())
}
