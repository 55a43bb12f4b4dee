//! `GET /api/flows/{flow}/rollout` and `PUT /api/flows/{flow}/rollout` (issue 58): the
//! share of new conversations a flow's candidate version is served; raise it, promote the
//! candidate or roll it back, without a restart.

use crate::http::error::Error;
use crate::http::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

pub async fn show(
    State(_st): State<AppState>,
    Path(_flow): Path<String>,
) -> Result<Json<Value>, Error> {
    Err(Error::not_found("not built yet"))
}

pub async fn update(
    State(_st): State<AppState>,
    Path(_flow): Path<String>,
    _body: Bytes,
) -> Result<Json<Value>, Error> {
    Err(Error::not_found("not built yet"))
}
