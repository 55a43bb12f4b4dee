//! The scores report (issue 59), for `GET /api/insights/scores` and the Insights page.

use crate::http::error::Error;
use crate::http::state::AppState;
use axum::response::Response;

pub async fn report(st: &AppState, query: Option<&str>) -> Result<Response, Error> {
    let _ = (st, query);
    Err(Error::not_found("not built yet"))
}
