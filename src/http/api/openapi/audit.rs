//! The audit log's call (issue 60) for `details` in `mod.rs`: `GET /api/audit`, its
//! filters, cursor and export format, and its statuses.

use super::query;
use serde_json::{json, Value};

/// Request body schema, parameters and statuses of the audit route, if `path` is it.
pub(super) fn details(
    method: &str,
    path: &str,
) -> Option<(Option<Value>, Vec<Value>, &'static [u16])> {
    match (method, path) {
        ("GET", "/api/audit") => Some((None, params(), &[200, 401, 403, 422, 429, 503])),
        _ => None,
    }
}

fn params() -> Vec<Value> {
    let time = json!({ "type": "string", "format": "date-time", "description": "RFC 3339 time" });
    let text = |what: &str| json!({ "type": "string", "maxLength": 200, "description": what });
    vec![
        query("since", false, time.clone()),
        query("until", false, time),
        query("actor", false, text("an API key's name, `cli:<user>` or a studio editor")),
        query(
            "action",
            false,
            text("an action exactly (`contacts.import`), or its start up to a `.` or a space (`contacts`, `POST`)"),
        ),
        query(
            "before",
            false,
            json!({ "type": "integer", "description": "the cursor: `next_before` of the previous page" }),
        ),
        query(
            "limit",
            false,
            json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }),
        ),
        query(
            "format",
            false,
            json!({ "type": "string", "enum": ["json", "jsonl"], "description": "jsonl: every selected row as JSON lines (an export), not a page" }),
        ),
    ]
}
