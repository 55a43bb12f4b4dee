//! The experiments calls (issue 58) for `details` in `mod.rs`: `/api/insights/experiments`
//! and `/api/flows/{flow}/rollout`, their parameters, request bodies and statuses.

use super::{obj, path_param, query};
use serde_json::{json, Value};

/// Request body schema, parameters and statuses of an experiments route, if `path` is one.
pub(super) fn details(
    method: &str,
    path: &str,
) -> Option<(Option<Value>, Vec<Value>, &'static [u16])> {
    let _ = (obj, query, json!({}));
    match (method, path) {
        ("GET", "/api/flows/{flow}/rollout") => {
            Some((None, vec![path_param("flow")], &[200, 401, 404]))
        }
        ("PUT", "/api/flows/{flow}/rollout") => {
            Some((None, vec![path_param("flow")], &[200, 401, 404, 422]))
        }
        ("GET", "/api/insights/experiments") => Some((None, vec![], &[200, 401, 422])),
        _ => None,
    }
}

#[allow(dead_code)]
fn unused(_: Value) {}
