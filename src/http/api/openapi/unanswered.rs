//! The unanswered questions call (issue 59) for `details` in `mod.rs`: its parameters and
//! statuses.

use super::query;
use serde_json::{json, Value};

/// Request body schema, parameters and statuses of the unanswered questions route, if `path`
/// is it.
pub(super) fn details(
    method: &str,
    path: &str,
) -> Option<(Option<Value>, Vec<Value>, &'static [u16])> {
    match (method, path) {
        ("GET", "/api/insights/unanswered") => Some((None, params(), &[200, 401, 422, 503])),
        _ => None,
    }
}

/// `/api/insights/unanswered` (and the Insights page's read): the period, a flow, and the
/// most questions per flow.
fn params() -> Vec<Value> {
    let time = json!({ "type": "string", "description": "RFC 3339 time or date (UTC midnight); the period is at most 366 days, by default the 7 days before `until` (now); a question counts when it was asked in it" });
    vec![
        query("since", false, time.clone()),
        query("until", false, time),
        query(
            "flow",
            false,
            json!({ "type": "string", "maxLength": 200, "description": "only this flow's questions" }),
        ),
        query(
            "limit",
            false,
            json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 50, "description": "the most questions per flow, the most asked first" }),
        ),
    ]
}
