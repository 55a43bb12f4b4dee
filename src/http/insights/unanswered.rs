//! What the agents could not answer (issue 59), for `GET /api/insights/unanswered` and the
//! Insights page: per flow, the customers' questions that no passage of an agent step's
//! knowledge matched well enough (`retrieval.unanswered_below`), the most asked first, with
//! how often and when they were asked. The store keeps them (`Unanswered`); this shapes
//! the answer.

use super::report::{flow_id, Period};
use crate::http::api::body::Fields;
use crate::http::error::Error;
use crate::http::state::AppState;
use crate::store::{UnansweredRow, MAX_UNANSWERED_READ};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// Questions per flow when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 50;

/// `?since=&until=&flow=&limit=`: the period (the last 7 days by default), one flow, and
/// the most questions per flow (1 to 1,000, 50 by default).
pub async fn report(st: &AppState, query: Option<&str>) -> Result<Response, Error> {
    let q = Fields::from_query(query);
    let flow = match q.opt_str("flow")? {
        Some(raw) => Some(flow_id(raw)?),
        None => None,
    };
    let limit = match q.opt_int("limit")? {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_UNANSWERED_READ).contains(&n) => n,
        Some(n) => {
            return Err(Error::field(
                "limit",
                format!("`limit` must be between 1 and {MAX_UNANSWERED_READ} (questions per flow), found {n}"),
            ))
        }
    };
    let period = Period::from_query(&q, st.clock.now())?;
    let (since, until) = period.bounds();
    let rows = st.store.unanswered(since, until, flow, limit).await?;
    Ok(Json(shape(&rows, since, until, limit)).into_response())
}

fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The rows (in flow order, the most asked first) as the answer: `flows[]`, each with its
/// `questions[]`.
pub fn shape(
    rows: &[UnansweredRow],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: i64,
) -> Value {
    let mut flows: Vec<Value> = Vec::new();
    let mut current: Option<(&str, Vec<Value>)> = None;
    for r in rows {
        if current.as_ref().is_some_and(|(f, _)| *f != r.flow) {
            let (f, qs) = current.take().expect("checked");
            flows.push(json!({ "flow": f, "questions": qs }));
        }
        let entry = current.get_or_insert_with(|| (r.flow.as_str(), Vec::new()));
        entry.1.push(json!({
            "question": r.question,
            "step": r.step,
            "count": r.n,
            "best_score": (r.best_score * 1000.0).round() / 1000.0,
            "first_seen": time(r.first_seen_ms),
            "last_seen": time(r.last_seen_ms),
        }));
    }
    if let Some((f, qs)) = current {
        flows.push(json!({ "flow": f, "questions": qs }));
    }
    json!({
        "success": true,
        "since": since.to_rfc3339_opts(SecondsFormat::Secs, true),
        "until": until.to_rfc3339_opts(SecondsFormat::Secs, true),
        "limit": limit,
        "flows": flows,
    })
}
