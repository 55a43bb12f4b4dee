//! `GET /api/insights/scores` (issue 59). The report is `http::insights::scores`, shared
//! with the Insights page.

use crate::http::error::Error;
use crate::http::state::AppState;
use axum::extract::{RawQuery, State};
use axum::response::Response;

pub async fn list(state: State<AppState>, query: RawQuery) -> Result<Response, Error> {
    crate::http::insights::scores_report(state, query).await
}
