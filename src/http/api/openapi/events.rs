//! The events-out calls (`/api/events/…`, `crate::http::api::events`) for `details` in
//! `mod.rs`: their parameters, request bodies and the statuses they answer.

use super::{obj, query};
use crate::domain::OutEventKind;
use serde_json::{json, Value};

/// Request body schema, parameters and statuses of an events route (`path` under
/// `/api/events/`).
pub(super) fn details(method: &str, path: &str) -> (Option<Value>, Vec<Value>, &'static [u16]) {
    let kinds: Vec<&str> = OutEventKind::ALL.iter().map(|k| k.as_str()).collect();
    let time = json!({ "type": "string", "format": "date-time" });
    match (method, path) {
        ("GET", "/api/events/deliveries") => (
            None,
            vec![
                query(
                    "endpoint",
                    false,
                    json!({ "type": "string", "maxLength": 64 }),
                ),
                query(
                    "state",
                    false,
                    json!({ "enum": ["pending", "delivered", "parked"] }),
                ),
                query("kind", false, json!({ "enum": kinds })),
                query("conversation_id", false, json!({ "type": "integer" })),
                query(
                    "before",
                    false,
                    json!({ "type": "integer", "description": "next_before of the previous page" }),
                ),
                query(
                    "limit",
                    false,
                    json!({ "type": "integer", "minimum": 1, "maximum": 500 }),
                ),
            ],
            &[200, 401, 422, 429, 503],
        ),
        ("GET", "/api/events/{event_id}") => (
            None,
            vec![json!({ "name": "event_id", "in": "path", "required": true,
                "schema": { "type": "string", "description": "evt_12 (the webhook-id) or 12" } })],
            &[200, 401, 404, 429, 503],
        ),
        _ => (
            Some(obj(
                &["endpoint"],
                json!({
                    "endpoint": { "type": "string", "maxLength": 64, "description": "events.endpoints[].name" },
                    "delivery_ids": { "type": "array", "items": { "type": "integer" }, "maxItems": 1000,
                                      "description": "These deliveries, whatever their state" },
                    "state": { "enum": ["parked"], "description": "Instead of delivery_ids: the endpoint's parked deliveries" },
                    "since": time, "until": time,
                }),
            )),
            vec![],
            &[200, 400, 401, 422, 429, 503],
        ),
    }
}
