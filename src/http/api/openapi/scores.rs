//! The scores calls (issue 59) for `details` in `mod.rs`: their parameters, request bodies
//! and statuses.

use serde_json::Value;

/// Request body schema, parameters and statuses of a scores route, if `path` is one.
pub(super) fn details(
    method: &str,
    path: &str,
) -> Option<(Option<Value>, Vec<Value>, &'static [u16])> {
    match (method, path) {
        ("GET", "/api/insights/scores") => Some((None, vec![], &[200, 401])),
        _ => None,
    }
}
