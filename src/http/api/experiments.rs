//! `GET /api/insights/experiments?since=&until=&flow=` (issue 58): each experiment's arms
//! compared — started, finished, dropped at each step, answer rates, time to finish — with
//! how sure the difference is. The report is `http::insights::experiments`, shared with the
//! Insights page.

use crate::http::error::Error;
use crate::http::state::AppState;
use axum::extract::{RawQuery, State};
use axum::response::Response;

pub async fn list(state: State<AppState>, query: RawQuery) -> Result<Response, Error> {
    crate::http::insights::experiments_report(state, query).await
}
