//! What messages cost: `GET /api/costs?by=flow|step|sender|day|category|broadcast&since=&until=`
//! — the cost ledger (README "Costs") summed by group: messages not failed or skipped,
//! their predicted cost from the rate card, and what the statuses' `pricing` said (priced,
//! billable, and the cost of the category Meta reported). Amounts are decimal texts in the
//! rate card's currency, with the exact micro-units beside them.

use crate::domain::pricing::rate_card::format_micros;
use crate::http::api::body::Fields;
use crate::http::api::common::limit;
use crate::http::error::Error;
use crate::http::state::AppState;
use crate::store::{CostGrouping, CostRow};
use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

const GROUPINGS: &str = "flow, step, sender, day, category or broadcast";

/// `GET /api/costs`.
pub async fn costs(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Error> {
    let q = Fields::from_query(query.as_deref());
    let by_text = q.opt_str("by")?.unwrap_or("flow");
    let since = time(&q, "since")?;
    let until = time(&q, "until")?;
    if let (Some(s), Some(u)) = (since, until) {
        if u <= s {
            return Err(Error::field("until", "until must be after since"));
        }
    }
    let limit = limit(&q)?;
    let from = since.unwrap_or_else(|| Utc.timestamp_opt(0, 0).single().unwrap_or_default());
    let to = until.unwrap_or_else(far_future);
    let rows = if by_text == "broadcast" {
        st.store.costs_by_broadcast(from, to, limit).await?
    } else {
        let by = CostGrouping::parse(by_text).ok_or_else(|| {
            Error::field(
                "by",
                format!("`{by_text}` is not a grouping; use {GROUPINGS}"),
            )
        })?;
        st.store.costs(by, from, to, limit).await?
    };
    let mut total = CostRow::default();
    for r in &rows {
        total.messages += r.messages;
        total.predicted_micros = total.predicted_micros.saturating_add(r.predicted_micros);
        total.priced += r.priced;
        total.billable += r.billable;
        total.actual_micros = total.actual_micros.saturating_add(r.actual_micros);
    }
    Ok(Json(json!({
        "success": true,
        "by": by_text,
        "since": since.map(|t| t.to_rfc3339()),
        "until": until.map(|t| t.to_rfc3339()),
        "currency": st.pricer.card.currency(),
        "costs": rows.iter().map(describe).collect::<Vec<_>>(),
        "total": describe(&total),
    })))
}

fn describe(r: &CostRow) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or_else(|_| json!({}));
    v["predicted"] = json!(format_micros(r.predicted_micros));
    v["actual"] = json!(format_micros(r.actual_micros));
    v
}

fn time(q: &Fields, key: &str) -> Result<Option<DateTime<Utc>>, Error> {
    let Some(s) = q.opt_str(key)? else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(s)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| {
            Error::field(
                key,
                format!("`{s}` is not a time like 2026-11-01T00:00:00Z"),
            )
        })
}

fn far_future() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
