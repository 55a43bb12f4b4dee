//! `GET /api/insights/experiments` (issue 58): each experiment's arms compared — started,
//! finished, dropped at each step, answer rates, time to finish, cost per finished
//! conversation — with how sure the difference is.

use crate::http::error::Error;
use crate::http::state::AppState;
use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::Value;

pub async fn list(
    State(_st): State<AppState>,
    RawQuery(_q): RawQuery,
) -> Result<Json<Value>, Error> {
    Err(Error::not_found("not built yet"))
}
