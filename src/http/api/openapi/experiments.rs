//! The experiments calls (issue 58) for `details` in `mod.rs`: `/api/insights/experiments`
//! and `/api/flows/{flow}/rollout`, their parameters, request bodies and statuses.

use super::{obj, query};
use serde_json::{json, Value};

/// Request body schema, parameters and statuses of an experiments route, if `path` is one.
pub(super) fn details(
    method: &str,
    path: &str,
) -> Option<(Option<Value>, Vec<Value>, &'static [u16])> {
    let _ = (obj, query, json!({}));
    match (method, path) {
        ("GET", "/api/flows/{flow}/rollout") => Some((None, vec![flow_param()], &[200, 401, 404])),
        ("PUT", "/api/flows/{flow}/rollout") => Some((
            Some(json!({
                "description": "exactly one of: the candidate's share of new conversations (0 to 100), a promote (100 %, marked promoted) or a rollback (0 %)",
                "oneOf": [
                    obj(&["share"], json!({ "share": { "type": "integer", "minimum": 0, "maximum": 100 } })),
                    obj(&["promote"], json!({ "promote": { "type": "boolean", "enum": [true] } })),
                    obj(&["rollback"], json!({ "rollback": { "type": "boolean", "enum": [true] } })),
                ]
            })),
            vec![flow_param()],
            &[200, 401, 404, 422],
        )),
        ("GET", "/api/insights/experiments") => {
            Some((None, experiments_params(), &[200, 401, 422, 429, 503]))
        }
        _ => None,
    }
}

#[allow(dead_code)]
fn unused(_: Value) {}

/// The `{flow}` of the rollout routes: a flow's id (text).
fn flow_param() -> Value {
    json!({ "name": "flow", "in": "path", "required": true, "schema": { "type": "string" },
            "description": "the flow's id" })
}

/// `/api/insights/experiments`: the period (as the flow insights read it) and a flow.
fn experiments_params() -> Vec<Value> {
    let time = json!({ "type": "string", "description": "RFC 3339 time or date (UTC midnight); the period is at most 366 days, by default the 7 days before `until` (now)" });
    vec![
        query("since", false, time.clone()),
        query("until", false, time),
        query(
            "flow",
            false,
            json!({ "type": "string", "maxLength": 200, "description": "only this flow's experiments (`<flow>/<step id>` and `<flow>@version`)" }),
        ),
    ]
}
