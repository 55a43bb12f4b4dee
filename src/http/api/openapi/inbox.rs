//! The inbox's calls (`/api/inbox/…`, `crate::http::inbox`) for `details` in `mod.rs`:
//! their parameters, request bodies and the statuses they answer. A key with
//! `scopes: [inbox]` may call only these (403 elsewhere); any key without scopes may too.

use super::{obj, path_param};
use crate::domain::limits;
use crate::http::api::Route;
use serde_json::{json, Value};

/// Request body schema, parameters and statuses of an inbox route; `None` for the others.
pub(super) fn details(r: &Route) -> Option<(Option<Value>, Vec<Value>, &'static [u16])> {
    Some(match (r.method, r.path) {
        ("GET", "/api/inbox/conversations") => (None, vec![], &[200, 401, 403, 429, 503]),
        ("GET", "/api/inbox/conversations/{conversation_id}") => (
            None,
            vec![path_param("conversation_id")],
            &[200, 401, 403, 404, 429, 503],
        ),
        ("POST", "/api/inbox/conversations/{conversation_id}/reply") => (
            Some(obj(
                &[],
                json!({
                    "text": { "type": "string", "maxLength": limits::TEXT_MAX,
                              "description": "Free text: only while the 24-hour window is open (403 WINDOW_CLOSED otherwise)" },
                    "template_id": { "type": "integer",
                                     "description": "Instead of text: an approved template of `templates:`, sendable at any time" },
                    "variables": { "type": "object", "additionalProperties": { "type": "string" },
                                   "description": "The template's placeholders, each filled" },
                }),
            )),
            vec![path_param("conversation_id")],
            &[200, 400, 401, 402, 403, 404, 422, 429, 503],
        ),
        ("POST", "/api/inbox/conversations/{conversation_id}/release") => (
            None,
            vec![path_param("conversation_id")],
            &[200, 401, 403, 404, 429, 503],
        ),
        _ => return None,
    })
}
