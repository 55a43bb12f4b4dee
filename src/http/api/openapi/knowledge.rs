//! The knowledge calls (issue 59) for `details` in `mod.rs`: their parameters, request bodies
//! and statuses.

use serde_json::Value;

/// Request body schema, parameters and statuses of a knowledge route, if `path` is one.
pub(super) fn details(
    method: &str,
    path: &str,
) -> Option<(Option<Value>, Vec<Value>, &'static [u16])> {
    match (method, path) {
        ("GET", "/api/knowledge") => Some((None, vec![], &[200, 401])),
        ("POST", "/api/knowledge/refresh") => Some((
            Some(serde_json::json!({
                "type": "object",
                "description": "Optional: one source to fetch again; without a body, every source",
                "properties": { "source": { "type": "string", "description": "the page's or sitemap's address, as `GET /api/knowledge` lists it" } },
                "additionalProperties": false
            })),
            vec![],
            &[202, 401, 404, 422],
        )),
        _ => None,
    }
}
