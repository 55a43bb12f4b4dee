//! The saved version's numbers per step, for the graph: `GET
//! /studio/api/insights/{flow}?from=YYYY-MM-DD&to=YYYY-MM-DD` answers, per node id of the
//! studio's graph (a step's `id:`, else `#<index>`), what the Insights page counts for that
//! step (`http::insights::report`, `domain::insight`): entered, answered, dropped, timed
//! out, invalid, errored, waiting, and the messages it sent with their cost from the ledger
//! (WhatsApp's charges per message; a model's cost is counted per flow run, not per step).
//! The period is whole days, `to` included, the last 7 days by default.

use super::super::error::{Error, PathParam};
use super::super::insights::report::{self, Period, DEFAULT_PERIOD_DAYS, MAX_PERIOD_DAYS};
use super::super::state::AppState;
use axum::extract::{Query, State};
use axum::Json;
use chrono::{Duration, NaiveDate};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The counts of a step's row that the graph shows.
const COUNTS: [&str; 7] = [
    "entered",
    "answered",
    "dropped",
    "timed_out",
    "invalid",
    "errored",
    "waiting",
];

/// The period the page picked, as days (`2026-11-01`).
#[derive(Deserialize)]
pub(super) struct Days {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /studio/api/insights/{flow}`.
pub(super) async fn flow(
    State(st): State<AppState>,
    PathParam(raw): PathParam,
    Query(days): Query<Days>,
) -> Result<Json<Value>, Error> {
    let id = report::flow_id(&raw)?;
    let period = period(&days, st.clock.now())?;
    let flows = st.engine.flows();
    let Some(flow) = flows.get(id).cloned() else {
        return Err(Error::not_found(format!(
            "no flow `{}` is loaded; save it without errors first",
            id.chars().take(60).collect::<String>()
        )));
    };
    let (first, end) = period.hours();
    let sums = st.store.flow_insights(first, end, Some(id)).await?;
    let (since, until) = period.bounds();
    let deliveries = st.store.step_deliveries(since, until, Some(id)).await?;
    let rows = report::flow(&flows, id, &sums, &deliveries, &period)
        .and_then(|r| r.get("steps").and_then(Value::as_array).cloned())
        .unwrap_or_default();
    let mut steps = Map::new();
    for (key, index) in report::ordered_steps(&flow) {
        let Some(row) = rows.iter().find(|r| r["step"] == key.as_str()) else {
            continue;
        };
        let mut numbers = Map::new();
        for name in COUNTS {
            numbers.insert(name.into(), row.get(name).cloned().unwrap_or(json!(0)));
        }
        numbers.insert("messages".into(), row["messages"].clone());
        numbers.insert("cost".into(), row["predicted"].clone());
        numbers.insert("actual_cost".into(), row["actual"].clone());
        steps.insert(
            crate::studio::drawing::node_id(&flow, index),
            Value::Object(numbers),
        );
    }
    let day = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d").to_string();
    Ok(Json(json!({
        "flow": id,
        "from": day(period.since),
        "to": day(period.until - Duration::days(1)),
        "cost_per": "message",
        "steps": steps,
        "truncated": sums.truncated,
    })))
}

/// Whole days from `from` to `to` (included); the 7 days up to today by default.
fn period(days: &Days, now: chrono::DateTime<chrono::Utc>) -> Result<Period, Error> {
    let to = match &days.to {
        Some(s) => date("to", s)?,
        None => now.date_naive(),
    };
    let from = match &days.from {
        Some(s) => date("from", s)?,
        None => to - Duration::days(DEFAULT_PERIOD_DAYS - 1),
    };
    if from > to {
        return Err(Error::field(
            "from",
            "`from` must not be after `to`; give a period like from=2026-11-01&to=2026-11-07",
        ));
    }
    if to - from >= Duration::days(MAX_PERIOD_DAYS) {
        return Err(Error::field(
            "from",
            format!("the period is longer than {MAX_PERIOD_DAYS} days; ask for a shorter one"),
        ));
    }
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    match (midnight(from), to.succ_opt().and_then(midnight)) {
        (Some(since), Some(until)) => Ok(Period { since, until }),
        _ => Err(Error::field("to", "the period is out of the calendar")),
    }
}

fn date(field: &str, s: &str) -> Result<NaiveDate, Error> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        Error::field(
            field,
            format!(
                "`{}` is not a day; write it like 2026-11-01",
                s.chars().take(40).collect::<String>()
            ),
        )
    })
}
