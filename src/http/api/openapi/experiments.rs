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

/// `GET /sandbox/api/insights/experiments` (the Insights page's read), listed in
/// `others::OTHERS`.
pub(super) fn get_sandbox_insights_experiments() -> Value {
    use super::sandbox::{local, on_this_machine, sandbox_error, unavailable};
    use super::schema::{json_answer, op};
    let bad = "A time that does not read, `since` not before `until`, a period over 366 days, \
               a flow id over 200 characters, or a parameter given twice (the message names it)";
    let responses = json!({
        "200": json_answer("Each experiment's arms compared", experiments_report()),
        "422": sandbox_error(bad, &["validation_error"]),
        "503": unavailable(true),
    });
    op(
        "get_sandbox_api_insights_experiments",
        "insights",
        "Each experiment's arms compared over a period (the Insights page's read)",
        &on_this_machine(
            "Every experiment counted in the period (a `split`'s `<flow>/<step id>`, a flow's \
             versions `<flow>@version`), its arms side by side and each compared with the \
             first; as `GET /api/insights/experiments`, without the API key.",
            false,
        ),
        experiments_params(),
        local(false, responses),
    )
}

/// The shape of the experiments report (`http::insights::experiments::report`).
fn experiments_report() -> Value {
    let n = json!({ "type": "integer" });
    let rate = json!({ "type": ["number", "null"] });
    let comparison = json!({ "type": "object", "properties": {
        "versus": { "type": "string" }, "difference_points": { "type": "number" },
        "z": rate, "p_value": rate,
        "ci95_points": { "type": "array", "items": { "type": "number" } },
        "significant": { "type": "boolean" },
        "sample_needed_per_arm": { "type": ["integer", "null"] },
        "more_needed_per_arm": { "type": ["integer", "null"] },
        "verdict": { "type": "string" },
    }});
    let step = json!({ "type": "object", "properties": {
        "step": { "type": "string" }, "entered": n, "answered": n, "timed_out": n,
        "invalid": n, "dropped": n, "errored": n, "answer_rate": rate,
    }});
    let arm = json!({ "type": "object", "properties": {
        "arm": { "type": "string" }, "started": n, "finished": n, "finish_rate": rate,
        "handed_off": n, "moved": n, "timed_out": n, "invalid": n, "dropped": n,
        "errored": n, "in_progress": n, "mean_seconds_to_finish": rate,
        "cost": { "type": "string", "description": "what the flow's messages to the arm's conversations cost (the ledger's prediction)" },
        "cost_micros": n,
        "cost_per_finished": { "type": ["string", "null"] },
        "steps": { "type": "array", "items": step },
        "comparison": comparison,
    }});
    json!({ "type": "object", "properties": {
        "success": { "type": "boolean" }, "since": { "type": "string" },
        "until": { "type": "string" }, "truncated": { "type": "boolean" },
        "experiments": { "type": "array", "items": { "type": "object", "properties": {
            "experiment": { "type": "string" }, "flow": { "type": "string" },
            "kind": { "enum": ["split", "versions"] }, "loaded": { "type": "boolean" },
            "arms": { "type": "array", "items": arm },
        }}},
    }})
}
