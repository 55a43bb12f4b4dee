//! The scores calls (issue 59) for `details` in `mod.rs`: `/api/insights/scores`, its
//! parameters and statuses.

use super::query;
use serde_json::{json, Value};

/// Request body schema, parameters and statuses of a scores route, if `path` is one.
pub(super) fn details(
    method: &str,
    path: &str,
) -> Option<(Option<Value>, Vec<Value>, &'static [u16])> {
    match (method, path) {
        ("GET", "/api/insights/scores") => Some((None, params(), &[200, 401, 422, 429, 503])),
        _ => None,
    }
}

/// The period (as the flow insights read it) and a flow.
fn params() -> Vec<Value> {
    let time = json!({ "type": "string", "description": "RFC 3339 time or date (UTC midnight); the period is at most 366 days, by default the 7 days before `until` (now)" });
    vec![
        query("since", false, time.clone()),
        query("until", false, time),
        query(
            "flow",
            false,
            json!({ "type": "string", "maxLength": 200, "description": "only this flow's scored conversations" }),
        ),
    ]
}
