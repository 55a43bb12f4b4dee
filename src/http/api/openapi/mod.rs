//! `GET /api/openapi.json`: the OpenAPI 3.1 document, built from `ROUTES` (so it cannot
//! list a path the router lacks, or miss one) plus each operation's parameters, request
//! body and responses written here; and every route outside `/api` (webhooks, the sandbox
//! and Insights, the pages, `/healthz`, `/readyz`, `/metrics`) from `others::OTHERS`,
//! which a test holds equal to the routes the server answers.

mod agent_pages;
mod audit;
mod events;
mod experiments;
mod inbox;
mod knowledge;
mod others;
mod sandbox;
mod schema;
mod scores;
mod unanswered;

pub use others::OTHERS;

use super::{Route, ROUTES};
use crate::domain::limits;
use crate::http::error::Family;
use axum::Json;
use serde_json::{json, Map, Value};

pub async fn document() -> Json<Value> {
    Json(build())
}

fn error_user_whatsapp() -> Value {
    json!({ "type": "object", "required": ["success", "error", "error_code"], "properties": {
        "success": { "const": false }, "error": { "type": "string" },
        "error_code": { "type": "string" }, "field": { "type": "string" },
        "session_status": { "$ref": "#/components/schemas/SessionStatus" } } })
}

fn error_messages_v1() -> Value {
    json!({ "oneOf": [
        { "type": "object", "required": ["error", "message"], "properties": {
            "error": { "const": "bad_request" }, "message": { "type": "string" } } },
        { "type": "object", "required": ["detail"], "properties": { "detail": { "type": "string" } } }
    ] })
}

fn obj(required: &[&str], props: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": props })
}

fn query(name: &str, required: bool, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": required, "schema": schema })
}

fn path_param(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "integer" } })
}

/// Request body schema and query/path parameters of a route.
fn details(r: &Route) -> (Option<Value>, Vec<Value>, &'static [u16]) {
    let s = json!({ "type": "string" });
    let i = json!({ "type": "integer" });
    // Instead of `recipient_phone`, for customers who hide their number (one of the two).
    let bsuid = json!({ "type": "string", "maxLength": limits::BSUID_MAX_LEN,
                        "pattern": "^[A-Z]{2}\\.[A-Za-z0-9.]+$" });
    match (r.method, r.path) {
        ("POST", "/api/user/whatsapp/send-freeform") => (
            Some(obj(
                &["sender_id", "message"],
                json!({
                "sender_id": i, "recipient_phone": s, "recipient_user_id": bsuid,
                "message": { "type": "string", "maxLength": limits::TEXT_MAX } }),
            )),
            vec![],
            &[200, 400, 401, 402, 403, 404, 422, 429, 503],
        ),
        ("POST", "/api/user/whatsapp/send") => (
            Some(obj(
                &["sender_id", "template_id"],
                json!({
                "sender_id": i, "template_id": i, "recipient_phone": s, "recipient_user_id": bsuid,
                "recipient_name": { "type": "string", "maxLength": 255 },
                "variables": { "type": "object", "additionalProperties": { "type": "string" } } }),
            )),
            vec![],
            &[200, 400, 401, 402, 404, 422, 429, 503],
        ),
        ("GET", "/api/user/whatsapp/session-status") => (
            None,
            vec![
                query("sender_id", true, i.clone()),
                query("recipient_phone", false, s.clone()),
                query("recipient_user_id", false, bsuid.clone()),
            ],
            &[200, 401, 404, 422, 429],
        ),
        ("GET", "/api/user/whatsapp/senders") => (
            None,
            vec![query(
                "status",
                false,
                json!({ "enum": ["online", "offline"] }),
            )],
            &[200, 401, 422, 429],
        ),
        ("GET", "/api/user/whatsapp/templates") => (
            None,
            vec![query(
                "status",
                false,
                json!({ "enum": ["approved", "pending", "rejected", "paused"] }),
            )],
            &[200, 401, 422, 429],
        ),
        ("POST", "/api/v1/messages/send-message") => (
            Some(obj(
                &["contact_phone", "message_type"],
                json!({
                "contact_phone": { "type": "string", "pattern": "^[0-9]{8,15}$" },
                "contact_name": { "type": "string", "maxLength": 255 },
                "message_type": { "enum": ["text", "image", "video", "audio", "document"] },
                "message": { "type": "string", "maxLength": limits::TEXT_MAX },
                "media_url": { "type": "string", "format": "uri" },
                "caption": { "type": "string", "maxLength": limits::BODY_MAX },
                "filename": s, "waba_phone_id": s,
                "buttons": obj(&["type"], json!({
                    "type": { "enum": ["reply", "cta_url"] },
                    "reply_buttons": { "type": "array", "minItems": 1, "maxItems": limits::REPLY_BUTTONS_MAX, "items": obj(&["id", "title"], json!({
                        "id": { "type": "string", "maxLength": limits::BUTTON_ID_MAX }, "title": { "type": "string", "maxLength": limits::BUTTON_TITLE_MAX } })) },
                    "url_button": obj(&["display_text", "url"], json!({
                        "display_text": { "type": "string", "maxLength": limits::BUTTON_TITLE_MAX }, "url": { "type": "string", "format": "uri" } })) })) }),
            )),
            vec![],
            &[200, 400, 401, 402, 403, 404, 422, 429, 503],
        ),
        ("GET", "/api/conversations") => (
            None,
            vec![
                limit_query(),
                query("before", false, i.clone()),
                query("sender_id", false, i.clone()),
            ],
            &[200, 401, 422, 429],
        ),
        ("GET", "/api/conversations/{conversation_id}/messages") => (
            None,
            vec![
                path_param("conversation_id"),
                limit_query(),
                query(
                    "before",
                    false,
                    json!({ "type": "string", "description": "next_before of the previous page" }),
                ),
            ],
            &[200, 401, 404, 422, 429],
        ),
        ("POST", "/api/conversations/{conversation_id}/messages") => (
            Some(obj(
                &["type"],
                json!({
                "type": { "enum": ["text", "image", "video", "audio", "document", "location", "location_request", "reaction"] },
                "text": { "type": "string", "maxLength": limits::TEXT_MAX },
                "message_id": { "type": "string", "description": "reaction: the customer's message (wamid.… or SM…)" },
                "emoji": { "type": "string", "maxLength": limits::REACTION_EMOJI_MAX, "description": "reaction: one emoji; \"\" removes it" },
                "media_url": { "type": "string", "format": "uri" },
                "caption": { "type": "string", "maxLength": limits::BODY_MAX }, "filename": s,
                "location": obj(&["latitude", "longitude"], json!({
                    "latitude": { "type": "number", "minimum": -90, "maximum": 90 },
                    "longitude": { "type": "number", "minimum": -180, "maximum": 180 },
                    "name": s, "address": s })) }),
            )),
            vec![path_param("conversation_id")],
            &[200, 400, 401, 402, 403, 404, 422, 429, 503],
        ),
        ("POST", "/api/conversations/{conversation_id}/release") => (
            None,
            vec![path_param("conversation_id")],
            &[200, 401, 404, 409, 429],
        ),
        ("POST", "/api/senders/{sender_id}/health") => (
            Some(obj(
                &[],
                json!({ "test_phone": s, "test_message": { "type": "string", "maxLength": limits::TEXT_MAX } }),
            )),
            vec![path_param("sender_id")],
            &[200, 400, 401, 404, 422, 429],
        ),
        ("GET", "/api/flows") => (None, vec![], &[200, 401, 429]),
        ("GET", "/api/flows/saves") => (None, saves_query(), &[200, 401, 422, 429, 503]),
        ("GET", "/api/media/{sha256}") => (
            None,
            vec![json!({ "name": "sha256", "in": "path", "required": true,
                "schema": { "type": "string", "pattern": "^[0-9a-f]{64}$" } })],
            &[200, 401, 404, 429, 503],
        ),
        ("GET", "/api/messages/{message_id}/media") => {
            (None, vec![path_param("message_id")], &[200, 401, 404, 429])
        }
        ("GET", "/api/costs") => (
            None,
            vec![
                query(
                    "by",
                    false,
                    json!({ "enum": ["flow", "step", "sender", "day", "category", "broadcast"] }),
                ),
                query(
                    "since",
                    false,
                    json!({ "type": "string", "format": "date-time" }),
                ),
                query(
                    "until",
                    false,
                    json!({ "type": "string", "format": "date-time" }),
                ),
                limit_query(),
            ],
            &[200, 401, 422, 429],
        ),
        ("GET", "/api/models/usage") => (
            None,
            vec![
                query(
                    "by",
                    false,
                    json!({ "enum": ["model", "flow", "conversation"] }),
                ),
                query(
                    "since",
                    false,
                    json!({ "type": "string", "format": "date-time" }),
                ),
                limit_query(),
            ],
            &[200, 401, 422, 429],
        ),
        ("GET", "/api/conversations/{conversation_id}/exchanges") => (
            None,
            vec![path_param("conversation_id"), limit_query()],
            &[200, 401, 404, 422, 429],
        ),
        ("POST", "/api/contacts/import") => (
            Some(json!({ "type": "array", "items": obj(&[], json!({
                "phone": { "type": "string" }, "user_id": { "type": "string" },
                "name": { "type": "string" },
                "tags": { "type": "array", "items": { "type": "string" } },
                "opted_in": { "type": "boolean" }, "fields": { "type": "object" } })) })),
            vec![],
            &[200, 400, 401, 413, 415, 429, 503],
        ),
        ("GET", "/api/contacts/export") => (
            None,
            vec![query("format", false, json!({ "enum": ["json", "csv"] }))],
            &[200, 401, 422, 429, 503],
        ),
        ("GET", "/api/insights/flows") => (None, period(), &[200, 401, 422, 429, 503]),
        ("GET", "/api/insights/flows/{flow}") => (
            None,
            [vec![path_param("flow")], period()].concat(),
            &[200, 401, 404, 422, 429, 503],
        ),
        ("POST", "/api/broadcasts") => (
            Some(obj(
                &["variables"],
                json!({
                "name": { "type": "string" },
                "template_id": { "type": "integer" },
                "template_name": { "type": "string" }, "language": { "type": "string" },
                "sender_id": { "type": "integer" },
                "variables": { "type": "object", "additionalProperties": { "type": "string" },
                               "description": "Each placeholder ({{1}}, …) as text with blanks like {{ contact.fields.first_name }}" },
                "audience": { "type": "object", "properties": {
                    "tags": { "type": "array", "items": { "type": "string" } },
                    "without_tags": { "type": "array", "items": { "type": "string" } },
                    "fields": { "type": "object", "additionalProperties": { "type": "string" } },
                    "inactive_for": { "type": "string" }, "active_within": { "type": "string" },
                    "all": { "type": "boolean", "description": "true (and no condition): every contact; an audience with no condition is refused otherwise" } } },
                "recipients": { "type": "array", "maxItems": 10000, "items": { "type": "string" } },
                "start_at": { "type": "string", "format": "date-time" },
                "reply_flow": { "type": "string" },
                "frequency_cap": { "type": "string" } }),
            )),
            vec![],
            &[200, 400, 401, 404, 413, 422, 429, 503],
        ),
        ("GET", "/api/broadcasts") => (
            None,
            vec![
                query("before", false, json!({ "type": "integer" })),
                limit_query(),
            ],
            &[200, 401, 422, 429, 503],
        ),
        ("GET", "/api/broadcasts/{broadcast_id}") => (
            None,
            vec![path_param("broadcast_id")],
            &[200, 401, 404, 429, 503],
        ),
        ("POST", "/api/broadcasts/{broadcast_id}/pause")
        | ("POST", "/api/broadcasts/{broadcast_id}/resume")
        | ("POST", "/api/broadcasts/{broadcast_id}/cancel") => (
            None,
            vec![path_param("broadcast_id")],
            &[200, 401, 404, 409, 429, 503],
        ),
        (m, p) if p.starts_with("/api/events/") => events::details(m, p),
        ("GET", "/api/openapi.json") => (None, vec![], &[200]),
        (m, p) if audit::details(m, p).is_some() => {
            audit::details(m, p).unwrap_or((None, vec![], &[200]))
        }
        (m, p) if scores::details(m, p).is_some() => {
            scores::details(m, p).unwrap_or((None, vec![], &[200]))
        }
        (m, p) if unanswered::details(m, p).is_some() => {
            unanswered::details(m, p).unwrap_or((None, vec![], &[200]))
        }
        (m, p) if knowledge::details(m, p).is_some() => {
            knowledge::details(m, p).unwrap_or((None, vec![], &[200]))
        }
        (m, p) if experiments::details(m, p).is_some() => {
            experiments::details(m, p).unwrap_or((None, vec![], &[200]))
        }
        _ => inbox::details(r).unwrap_or((None, vec![], &[200])),
    }
}

/// `?limit=`, 1 to 200, of the listings.
fn limit_query() -> Value {
    query(
        "limit",
        false,
        json!({ "type": "integer", "minimum": 1, "maximum": 200 }),
    )
}

/// `GET /api/flows/saves`: the file, named from the project folder.
fn saves_query() -> Vec<Value> {
    let path = json!({ "type": "string", "maxLength": 1024,
        "description": "A file of the project, from its folder: flows/welcome.yaml" });
    vec![query("path", true, path)]
}

/// The period and format of the insights reads.
fn period() -> Vec<Value> {
    let time = json!({ "type": "string", "description": "RFC 3339 time or date (UTC midnight)" });
    vec![
        query("since", false, time.clone()),
        query("until", false, time),
        query("format", false, json!({ "enum": ["json", "csv"] })),
    ]
}

fn operation(r: &Route) -> Value {
    let (body, parameters, statuses) = details(r);
    let family = Family::of(r.path);
    let mut responses = Map::new();
    for status in statuses {
        if *status == 200 && r.path == "/api/media/{sha256}" {
            responses.insert(
                "200".into(),
                json!({ "description": "The file, as the customer sent it", "content": { "*/*": { "schema": { "type": "string", "format": "binary" } } } }),
            );
            continue;
        }
        let schema = match (*status, family) {
            (200, _) => json!({ "type": "object" }),
            (_, Family::MessagesV1) => error_messages_v1(),
            _ => error_user_whatsapp(),
        };
        let description = match status {
            200 => "Success",
            400 => "Malformed request",
            401 => "Missing or invalid API key",
            402 => "Spend limit reached (INSUFFICIENT_BALANCE)",
            403 => "The 24-hour window is closed",
            404 => "Not found",
            409 => "Not in a state that allows it (a handoff, a broadcast)",
            413 => "The body is too large",
            415 => "The body's Content-Type is not accepted",
            422 => "A field breaks a rule",
            429 => "Rate limited (see Retry-After)",
            _ => "Sender offline or database unavailable",
        };
        responses.insert(
            status.to_string(),
            json!({ "description": description, "content": { "application/json": { "schema": schema } } }),
        );
    }
    let mut op = json!({
        "summary": r.summary,
        "operationId": format!("{}_{}", r.method.to_lowercase(), r.path.trim_start_matches("/api/").replace(['/', '-', '.', '{', '}'], "_")),
        "parameters": parameters,
        "responses": responses,
    });
    if r.path == "/api/openapi.json" {
        op["security"] = json!([]);
    }
    // The scope a key with `scopes` needs for this route (403 FORBIDDEN without it).
    if let Some(scope) = super::scopes::scope_of(r.method, r.path) {
        op["x-parley-scope"] = json!(scope.as_str());
    }
    if let Some(schema) = body {
        op["requestBody"] =
            json!({ "required": true, "content": { "application/json": { "schema": schema } } });
        if r.path == "/api/contacts/import" {
            op["requestBody"]["content"]["text/csv"] = json!({ "schema": { "type": "string",
                "description": "A header row (phone, user_id, name, tags, opted_in, and any custom field), then one contact a row" } });
        }
    }
    op
}

pub fn build() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let entry = paths
            .entry(r.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[r.method.to_lowercase()] = operation(r);
    }
    for o in OTHERS {
        let entry = paths
            .entry(o.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[o.method.to_lowercase()] = (o.operation)();
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Parley API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Send WhatsApp messages through Parley's outbox (the hosted platforms' send endpoints), read conversations and check senders. Success means accepted by Parley; delivery follows from status webhooks. Also every route outside /api: the webhooks Meta and Twilio call (signed, no API key), the sandbox and Insights pages with their reads (this machine only), and /healthz, /readyz, /metrics.",
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": { "SessionStatus": obj(&["is_open", "can_send_freeform", "requires_template", "message"], json!({
                "is_open": { "type": "boolean" }, "can_send_freeform": { "type": "boolean" },
                "requires_template": { "type": "boolean" }, "message": { "type": "string" },
                "minutes_remaining": { "type": "integer" }, "expires_at": { "type": "string" } })) },
        },
        "security": [{ "bearer": [] }],
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn document_lists_exactly_the_routes() {
        let doc = build();
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| (m.to_uppercase(), path.clone()))
            })
            .collect();
        let routed: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .chain(
                OTHERS
                    .iter()
                    .map(|o| (o.method.to_string(), o.path.to_string())),
            )
            .collect();
        assert_eq!(documented, routed);
    }

    #[test]
    fn every_route_has_its_own_description() {
        for r in ROUTES {
            let (body, params, statuses) = details(r);
            assert!(
                r.path == "/api/openapi.json" || statuses.len() > 1,
                "{} {} has no documented responses",
                r.method,
                r.path
            );
            let bodiless = r.path.ends_with("/release") || r.path.starts_with("/api/broadcasts/{");
            if r.method == "POST" && !bodiless {
                assert!(
                    body.is_some(),
                    "{} {} has no request body",
                    r.method,
                    r.path
                );
            }
            for name in r
                .path
                .split('{')
                .skip(1)
                .filter_map(|s| s.split('}').next())
            {
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path"),
                    "{} {} does not document {{{name}}}",
                    r.method,
                    r.path
                );
            }
        }
    }
}
