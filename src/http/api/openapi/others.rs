//! The operations of the routes outside `/api`, for `GET /api/openapi.json` to list beside
//! the API's own: the provider webhooks (`/webhooks/…`, `crate::http::webhooks`), the
//! operations routes (`/healthz`, `/readyz`, `/metrics`, `crate::http::ops`), the pages
//! (`/`, `/sandbox/`, `crate::http::pages`), the sandbox page and API (`/sandbox`,
//! `/sandbox/api/…`, `crate::http::sandbox`) and the Insights page with its reads
//! (`/insights`, `/sandbox/api/insights/…`, `crate::http::insights`).
//!
//! None of them takes the API key: Meta and Twilio sign their webhooks; the sandbox and
//! Insights answer only while the sandbox is on and, unless `sandbox.expose`, only requests
//! addressed to this machine; `/healthz`, `/readyz` and `/metrics` are open to whoever
//! reaches the port (the README's proxy example forwards only `/healthz` of the three).
//!
//! The sandbox API's operations and the shapes they answer with are in `sandbox.rs`
//! beside this file. Both are written from the handlers and the types
//! they read and write (`crate::sandbox::{inject, view, traces}`, `crate::engine::trace`,
//! `crate::flows::triggers::explain`, `crate::http::insights::report`): a change there
//! must be made here too. Errors are in the path family's shape (`crate::http::error`):
//! `{"error": "<code>", "message"}` under `/sandbox` (and for the Insights reads),
//! `{"success": false, "error", "error_code"}` under `/webhooks`.

use super::schema::{
    answer, described, json_answer, json_body, list, nullable, obj, op, path_param, query,
    redirect, t, time, time_or_null, with_body,
};
use super::{
    agent_pages, experiments::get_sandbox_insights_experiments as experiments_op, sandbox,
};
use crate::domain::insight::{Outcome, StepCount};
use sandbox::{local, not_found, on_this_machine, sandbox_error, unavailable};
use serde_json::{json, Map, Value};

/// One documented route outside `/api`: its method (upper case), its path as axum routes it
/// (`{param}` form), and its OpenAPI operation object.
pub struct Other {
    pub method: &'static str,
    pub path: &'static str,
    pub operation: fn() -> Value,
}

const fn other(method: &'static str, path: &'static str, operation: fn() -> Value) -> Other {
    Other {
        method,
        path,
        operation,
    }
}

/// Every route Parley serves outside `/api`, one entry per method and path.
pub const OTHERS: &[Other] = &[
    other("GET", "/webhooks/meta", get_webhooks_meta),
    other("POST", "/webhooks/meta", post_webhooks_meta),
    other("POST", "/webhooks/twilio", post_webhooks_twilio),
    other("GET", "/healthz", get_healthz),
    other("GET", "/readyz", get_readyz),
    other("GET", "/metrics", get_metrics),
    other("GET", "/", get_root),
    other("GET", "/sandbox/", get_sandbox_slash),
    other("GET", "/sandbox", sandbox::get_sandbox),
    other("POST", "/sandbox/api/messages", sandbox::post_messages),
    other("GET", "/sandbox/api/contacts/{phone}", sandbox::get_contact),
    other(
        "GET",
        "/sandbox/api/contacts/{phone}/messages",
        sandbox::get_chat,
    ),
    other(
        "POST",
        "/sandbox/api/contacts/{phone}/release",
        sandbox::post_release,
    ),
    other("POST", "/sandbox/api/customers", sandbox::post_customers),
    other("GET", "/sandbox/api/events/{id}/trace", sandbox::get_trace),
    other("GET", "/sandbox/api/flows", sandbox::get_flows),
    other("POST", "/sandbox/api/explain", sandbox::post_explain),
    other("GET", "/sandbox/api/clock", sandbox::get_clock),
    other("POST", "/sandbox/api/clock", sandbox::post_clock),
    other("GET", "/sandbox/api/media/{sha256}", sandbox::get_media),
    other("GET", "/insights", agent_pages::get_insights),
    other("GET", "/sandbox/api/insights/flows", get_insights_flows),
    other(
        "GET",
        "/sandbox/api/insights/flows/{flow}",
        get_insights_flow,
    ),
    other("GET", "/sandbox/api/insights/experiments", experiments_op),
    other(
        "GET",
        "/sandbox/api/insights/scores",
        agent_pages::get_scores,
    ),
    other(
        "GET",
        "/sandbox/api/insights/unanswered",
        agent_pages::get_unanswered,
    ),
    other("GET", "/insights/scores.js", agent_pages::get_scores_js),
    other(
        "GET",
        "/insights/unanswered.js",
        agent_pages::get_unanswered_js,
    ),
];

// Webhooks.
/// The webhooks' error shape (the API's): `{"success": false, "error", "error_code"}`.
fn webhook_error(description: &str, code: &str) -> Value {
    let shape = json!({
        "success": { "const": false }, "error": t("string"), "error_code": { "const": code },
    });
    json_answer(description, obj("success error error_code", shape))
}

/// 400, 401, 413 and 503, which both POST webhooks answer.
fn webhook_refusals(unsigned: &str, unreadable: &str) -> Value {
    let too_large = "The body is larger than `webhooks.max_body_bytes` (1 MiB by default); \
        the error names the limit. Nothing is stored.";
    let not_stored = "The webhook could not be stored within `webhooks.ack_timeout` (2 s), or \
        more than `webhooks.max_waiting` wait to be: the provider retries. The message never \
        carries the database's words.";
    json!({
        "400": webhook_error(unreadable, "INVALID_REQUEST"),
        "401": webhook_error(unsigned, "UNAUTHORIZED"),
        "413": webhook_error(too_large, "PAYLOAD_TOO_LARGE"),
        "503": webhook_error(not_stored, "UNAVAILABLE"),
    })
}

fn get_webhooks_meta() -> Value {
    let mode = json!({
        "name": "hub.mode", "in": "query", "required": true, "schema": { "const": "subscribe" },
    });
    let token = json!({
        "name": "hub.verify_token", "in": "query", "required": true, "schema": t("string"),
        "description": "Must equal a Meta sender's `meta.verify_token`",
    });
    let challenge = json!({
        "name": "hub.challenge", "in": "query", "required": true, "schema": t("string"),
        "description": "Echoed back when the handshake succeeds",
    });
    let responses = json!({
        "200": answer("The handshake succeeded: the body is `hub.challenge`", "text/plain", t("string")),
        "403": webhook_error("Refused: the verify token matches no Meta sender's, `hub.mode` is not `subscribe`, or `hub.challenge` is missing (the message says which)", "FORBIDDEN"),
    });
    op(
        "get_webhooks_meta",
        "webhooks",
        "Meta's webhook verification handshake",
        "Called by Meta when the callback URL is saved in the app's WhatsApp configuration. When \
         `hub.mode` is `subscribe` and `hub.verify_token` equals a Meta sender's \
         `meta.verify_token`, answers `hub.challenge` as plain text and notes the webhook as \
         verified for those senders (the sender health check). No API key, no signature.",
        vec![mode, token, challenge],
        responses,
    )
}

/// What Meta posts: a WhatsApp Business Account notification.
fn meta_notification() -> Value {
    let metadata = json!({
        "display_phone_number": t("string"),
        "phone_number_id": described("string", "Routes the change to the sender with this `meta.phone_number_id`"),
    });
    let value = json!({
        "type": "object",
        "properties": {
            "messaging_product": { "const": "whatsapp" },
            "metadata": obj("phone_number_id", metadata),
            "contacts": list(t("object")), "messages": list(t("object")),
            "statuses": list(t("object")), "errors": list(t("object")),
        },
    });
    let change = json!({
        "value": value,
        "field": described("string", "`messages`, `user_id_update`, `smb_message_echoes`, `history`, `calls`, template and marketing-preference updates…; other fields are acknowledged and ignored"),
    });
    let entry = json!({
        "id": described("string", "The WhatsApp Business Account id"),
        "changes": list(obj("field value", change)),
    });
    let notification = json!({
        "object": described("string", "`whatsapp_business_account`"),
        "entry": list(obj("id changes", entry)),
    });
    obj("object entry", notification)
}

fn post_webhooks_meta() -> Value {
    let signature = json!({
        "name": "X-Hub-Signature-256", "in": "header", "required": true,
        "description": "`sha256=` and the hex HMAC-SHA256 of the raw body with a Meta sender's `app_secret`",
        "schema": { "type": "string", "pattern": "^sha256=[0-9a-fA-F]{64}$" },
    });
    let mut responses = webhook_refusals(
        "`X-Hub-Signature-256` is missing or matches no Meta sender's `app_secret`; nothing is stored",
        "Signed, but the body is not JSON (not UTF-8 text, or not JSON's syntax); nothing is stored",
    );
    responses["200"] = answer(
        "Stored durably (deduplicated by provider message id) before this answer; n is the number \
         of items stored. Items Parley cannot read, unknown event types and numbers no sender has \
         are logged, counted and acknowledged too, so Meta never retries a batch over one of them.",
        "text/plain",
        json!({ "type": "string", "pattern": "^EVENT_RECEIVED [0-9]+$" }),
    );
    let operation = op(
        "post_webhooks_meta",
        "webhooks",
        "Meta's webhook: messages, statuses and account updates",
        "Meta (WhatsApp Cloud API) posts messages, delivery statuses, template and account \
         changes here. The signature is checked over the raw body before anything is parsed or \
         stored; messages go to the sender whose `meta.phone_number_id` matches \
         `metadata.phone_number_id` and are processed after the answer, by the inbox. No API \
         key: the signature is the authentication.",
        vec![signature],
        responses,
    );
    let body = json_body(true, "Meta's notification, as signed", meta_notification());
    with_body(operation, body)
}

/// The Twilio form parameters Parley reads (Twilio sends more; all are signed).
const TWILIO_FIELDS: &[(&str, &str)] = &[
    ("MessageSid", "The SID (`SM…`); else `SmsMessageSid`"),
    ("AccountSid", "The Twilio account"),
    ("From", "`whatsapp:+…`: the customer; ours on a status"),
    ("To", "`whatsapp:+…`: ours; the customer on a status"),
    ("Body", "The text, or a media caption"),
    ("ProfileName", "The customer's WhatsApp profile name"),
    ("WaId", "The customer's WhatsApp id"),
    ("ExternalUserIdentifier", "Their business-scoped user id"),
    ("ProfileUsername", "The customer's WhatsApp username"),
    ("MessageType", "text, image, interactive, button, location…"),
    ("NumMedia", "How many media files; the first is read"),
    ("MediaUrl0", "The first media file's URL"),
    ("MediaContentType0", "Its type"),
    ("ButtonPayload", "A tapped button's id"),
    ("ButtonText", "A tapped button's text"),
    ("ListId", "A chosen list row's id"),
    ("ListTitle", "Its title"),
    ("Latitude", "A shared location"),
    ("Longitude", "A shared location"),
    ("Address", "A shared location's address"),
    ("Label", "A shared location's name"),
    ("OriginalRepliedMessageSid", "The message replied to"),
    ("ReferralSourceId", "The ad (and the other `Referral…`)"),
    ("MessageStatus", "A status: sent, delivered, read, failed…"),
    ("ErrorCode", "Status callbacks: Twilio's error code"),
    ("ErrorMessage", "Status callbacks: its text"),
];

fn post_webhooks_twilio() -> Value {
    let properties: Map<String, Value> = TWILIO_FIELDS
        .iter()
        .map(|(name, about)| (name.to_string(), described("string", about)))
        .collect();
    let form = json!({
        "type": "object", "required": ["MessageSid", "From", "To"], "properties": properties,
        "additionalProperties": { "type": "string" },
        "description": "An inbound message, or a status callback (with `MessageStatus`; queued, accepted, sending… are ignored). At most 200 parameters. A verified form Parley cannot route (a parameter missing, a value it cannot read) is logged, counted and still answered 200.",
    });
    let signature = json!({
        "name": "X-Twilio-Signature", "in": "header", "required": true,
        "description": "Base64 HMAC-SHA1, with a Twilio sender's `auth_token`, of the URL Twilio called (`public_url` + path and query; without `public_url`, rebuilt from `Host` and `X-Forwarded-Proto`) and the sorted parameters",
        "schema": { "type": "string", "pattern": "^[A-Za-z0-9+/]{27}=$" },
    });
    let outbox = query(
        "parley_outbox",
        t("integer"),
        "Set by Parley in the `StatusCallback` URL of its own sends (signed with the URL): the \
         outbox id the status is about",
    );
    let mut responses = webhook_refusals(
        "No Twilio sender is configured, `X-Twilio-Signature` is missing or not shaped like one, \
         or it matches no Twilio sender's `auth_token` for the URL (the message names the URL \
         Parley checked); nothing is stored",
        "Signature-shaped, but the body is not a form: not UTF-8 once decoded, or more than 200 \
         parameters (refused before any is decoded, and before the signature is checked)",
    );
    responses["200"] = answer(
        "Stored durably (deduplicated by MessageSid), or acknowledged and ignored: an empty TwiML \
         response, so Twilio sends nothing more",
        "text/xml",
        json!({ "const": "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>" }),
    );
    let operation = op(
        "post_webhooks_twilio",
        "webhooks",
        "Twilio's webhook: inbound messages and status callbacks",
        "Set as \"A message comes in\" and as the status callback of the Twilio WhatsApp sender. \
         Inbound messages are routed by the `To` number, statuses by `From`. The signature is \
         checked before the form is parsed; no API key.",
        vec![signature, outbox],
        responses,
    );
    let body = json!({
        "required": true, "description": "Twilio's inbound-message or status-callback form",
        "content": { "application/x-www-form-urlencoded": { "schema": form } },
    });
    with_body(operation, body)
}

// Operations.

fn get_healthz() -> Value {
    let ok = answer(
        "The process answers",
        "text/plain",
        json!({ "const": "ok" }),
    );
    op(
        "get_healthz",
        "operations",
        "Liveness: the process answers",
        "Always `ok` while the HTTP thread runs; checks nothing else. No API key; the one \
         operations route meant to be reachable from outside.",
        vec![],
        json!({ "200": ok }),
    )
}

fn readiness() -> Value {
    let database = json!({ "oneOf": [
        obj("ok backend", json!({
            "ok": { "const": true }, "backend": { "enum": ["sqlite", "postgres"] },
        })),
        obj("ok error", json!({
            "ok": { "const": false },
            "error": described("string", "Why, without the driver's words (they are in the log)"),
        }))
    ] });
    let flows = json!({
        "loaded": t("integer"), "loaded_at": time_or_null(), "problems": list(t("string")),
        "stale": described("boolean", "The flow files have errors: the flows loaded before them still run"),
    });
    let stopped = json!({
        "sender_id": t("integer"), "code": nullable("integer"), "reason": t("string"),
        "stopped_at": time(),
    });
    let template = json!({
        "name": t("string"), "language": t("string"), "status": nullable("string"),
        "reason": nullable("string"), "category": nullable("string"),
        "impending_category": nullable("string"), "impending_on": time_or_null(),
    });
    let readiness = json!({
        "status": { "enum": ["ready", "not_ready"] },
        "database": database,
        "flows": obj("loaded stale loaded_at problems", flows),
        "stopped_senders": list(obj("sender_id code reason stopped_at", stopped)),
        "templates_needing_attention": {
            "type": "array", "items": obj("name language status", template),
            "description": "Templates Meta paused, disabled or rejected, or is about to move to another category",
        },
        "warnings": {
            "type": "array", "items": t("string"),
            "description": "What the deployment lacks without being broken (no flows, no senders, no API keys, a Graph API version near retirement); never makes it 503",
        },
    });
    let required = "status database flows stopped_senders templates_needing_attention \
        warnings";
    obj(required, readiness)
}

fn get_readyz() -> Value {
    let responses = json!({
        "200": json_answer("Ready (`status: ready`)", readiness()),
        "503": json_answer("Not ready (`status: not_ready`): the database did not answer within 1 s, failed, refuses to store webhooks (a full disk), or the SQLite file was deleted or replaced", readiness()),
    });
    op(
        "get_readyz",
        "operations",
        "Readiness: the database answers, flows loaded",
        "200 when the database answers within 1 s and stores webhooks; reports the flows loaded \
         and their problems, stopped senders, templates needing attention and warnings, none of \
         which makes it 503. No API key: keep it off the internet (it names senders, templates \
         and flow problems).",
        vec![],
        responses,
    )
}

fn get_metrics() -> Value {
    let text = answer("The metrics", "text/plain; version=0.0.4", t("string"));
    op(
        "get_metrics",
        "operations",
        "Prometheus metrics",
        "Prometheus text: webhooks, messages, the outbox depth, stopped senders, stale flows, \
         Graph API days left, media, language models and storage. Not protected, by a key or \
         anything else: let only the scraper reach it (the README's proxy example does not \
         forward it).",
        vec![],
        json!({ "200": text }),
    )
}

// Pages.

fn get_root() -> Value {
    let responses = json!({
        "200": answer("The sandbox is off: the page of links, saying why", "text/html", t("string")),
        "303": redirect("The sandbox is served: go to `/sandbox`"),
    });
    op(
        "get_root",
        "pages",
        "Parley's address in a browser",
        "Redirects to the sandbox while it is served; otherwise a page of links (`/healthz`, \
         `/readyz`, `/metrics`, `/api/openapi.json`) that says why the sandbox is off. No API key.",
        vec![],
        responses,
    )
}

fn get_sandbox_slash() -> Value {
    op(
        "get_sandbox_slash",
        "pages",
        "`/sandbox/` goes to `/sandbox`",
        "Always redirects, the sandbox on or off (off, `/sandbox` then answers 404 saying why). \
         No API key, and no loopback check: it only redirects.",
        vec![],
        json!({ "303": redirect("Go to `/sandbox`") }),
    )
}

// Insights: the page and its reads, by the sandbox's rules.

/// Non-negative counters, by name.
fn counts(names: impl IntoIterator<Item = &'static str>) -> Map<String, Value> {
    names
        .into_iter()
        .map(|name| (name.to_string(), json!({ "type": "integer", "minimum": 0 })))
        .collect()
}

/// A flow's outcomes (`in_progress`: started, not ended within the period).
fn outcomes() -> Map<String, Value> {
    let names: Vec<&'static str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    counts(names.into_iter().chain(["in_progress"]))
}

/// A step's counts (`waiting`: entered, not left within the period).
fn step_counts() -> Map<String, Value> {
    let names: Vec<&'static str> = StepCount::ALL.iter().map(|s| s.as_str()).collect();
    counts(names.into_iter().chain(["waiting"]))
}

/// What a step's (or a flow's) messages became and cost (`report::delivery`).
fn delivery() -> Map<String, Value> {
    let mut m = counts([
        "messages",
        "sent",
        "delivered",
        "read",
        "failed",
        "predicted_micros",
        "actual_micros",
    ]);
    let rate = json!({
        "type": ["number", "null"],
        "description": "Of those sent, 4 decimals; null when none was sent",
    });
    let predicted = "The ledger's prediction for the messages not failed, like \"0.34\"";
    m.insert("delivery_rate".into(), rate.clone());
    m.insert("read_rate".into(), rate);
    m.insert("predicted".into(), described("string", predicted));
    m.insert(
        "actual".into(),
        described("string", "By the statuses' pricing"),
    );
    m
}

/// An object of `fields` and the properties of `more`.
fn row(mut fields: Map<String, Value>, more: [Map<String, Value>; 2]) -> Value {
    for m in more {
        fields.extend(m);
    }
    json!({ "type": "object", "properties": fields })
}

fn flows_report() -> Value {
    let loaded = "The flow is loaded now (false: only counted in the period)";
    let mut flow = Map::new();
    flow.insert("flow".into(), t("string"));
    flow.insert("loaded".into(), described("boolean", loaded));
    let report = json!({
        "success": { "const": true }, "since": time(), "until": time(),
        "flows": list(row(flow, [outcomes(), delivery()])), "truncated": t("boolean"),
    });
    obj("success since until flows truncated", report)
}

fn flow_report() -> Value {
    let mut step = Map::new();
    step.insert(
        "step".into(),
        described("string", "The step's key: its id or `step 2`"),
    );
    step.insert(
        "place".into(),
        described("string", "`step 2 (line 5)`; loaded steps only"),
    );
    step.insert(
        "kind".into(),
        described("string", "ask, send, agent…; loaded steps only"),
    );
    let step = row(step, [step_counts(), delivery()]);
    let report = json!({
        "success": { "const": true }, "flow": t("string"), "loaded": t("boolean"),
        "since": time(), "until": time(),
        "outcomes": { "type": "object", "properties": outcomes() },
        "messages": { "type": "object", "properties": delivery() },
        "steps": {
            "type": "array", "items": step,
            "description": "In the flow's order, nested steps after the step they are written in",
        },
        "former_steps": {
            "type": "array", "items": step,
            "description": "Counted in the period, no longer in the loaded flow",
        },
        "truncated": t("boolean"),
    });
    let required = "success flow loaded since until outcomes messages steps former_steps truncated";
    obj(required, report)
}

/// `since`, `until` and `format`.
fn period() -> Vec<Value> {
    let when = described("string", "RFC 3339 time or date (UTC midnight)");
    let since = "From the start of its hour; by default 7 days before `until`, at most 366";
    let format = json!({ "enum": ["json", "csv"], "default": "json" });
    vec![
        query("since", when.clone(), since),
        query("until", when, "By default now"),
        query("format", format, "csv: a line per flow, or per step"),
    ]
}

/// A report as JSON, or CSV with `format=csv`.
fn report(description: &str, schema: Value) -> Value {
    let csv = described("string", "With `format=csv`, as an attachment");
    json!({
        "description": description,
        "content": {
            "application/json": { "schema": schema },
            "text/csv": { "schema": csv },
        },
    })
}

fn bad_period(flow: bool) -> Value {
    let id = if flow {
        ", a flow id over 200 characters"
    } else {
        ""
    };
    let description = format!(
        "A time that does not read, `since` not before `until`, a period over 366 days, an \
         unknown format{id}, or a parameter given twice (the message names it)"
    );
    sandbox_error(&description, &["validation_error"])
}

fn get_insights_flows() -> Value {
    let responses = json!({
        "200": report("The flows' counts", flows_report()),
        "422": bad_period(false),
        "503": unavailable(true),
    });
    op(
        "get_sandbox_api_insights_flows",
        "insights",
        "Each flow's runs and outcomes over a period (the Insights page's read)",
        &on_this_machine(
            "Every loaded flow (zeros included) and every flow counted in the period, with its \
             outcomes and what its messages became; as `GET /api/insights/flows`, without the \
             API key.",
            false,
        ),
        period(),
        local(false, responses),
    )
}

fn get_insights_flow() -> Value {
    let flow = path_param(
        "flow",
        json!({ "type": "string", "minLength": 1, "maxLength": 200 }),
        "A flow id (see `GET /sandbox/api/flows`)",
    );
    let responses = json!({
        "200": report("The flow's funnel", flow_report()),
        "404": not_found("No flow with this id is loaded or was counted in the period"),
        "422": bad_period(true),
        "503": unavailable(true),
    });
    op(
        "get_sandbox_api_insights_flows_flow",
        "insights",
        "A flow's funnel over a period (the Insights page's read)",
        &on_this_machine(
            "The flow's outcomes and each step's counts in the flow's order; as \
             `GET /api/insights/flows/{flow}`, without the API key.",
            false,
        ),
        [vec![flow], period()].concat(),
        local(false, responses),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The `{name}`s of a path.
    fn placeholders(path: &str) -> Vec<&str> {
        path.split('{')
            .skip(1)
            .filter_map(|s| s.split('}').next())
            .collect()
    }

    #[test]
    fn every_path_parameter_is_documented_and_no_other() {
        for o in OTHERS {
            let operation = (o.operation)();
            let params = operation["parameters"].as_array().expect("parameters");
            let names = placeholders(o.path);
            for &name in &names {
                assert!(
                    params
                        .iter()
                        .any(|p| p["in"] == "path" && p["name"] == name && p["required"] == true),
                    "{} {} does not document {{{name}}}",
                    o.method,
                    o.path
                );
            }
            for p in params.iter().filter(|p| p["in"] == "path") {
                let name = p["name"].as_str().unwrap_or_default();
                assert!(
                    names.contains(&name),
                    "{} {} documents a path parameter `{name}` it does not have",
                    o.method,
                    o.path
                );
            }
        }
    }

    #[test]
    fn operation_ids_are_unique_here_and_beside_the_api() {
        let mut ids = BTreeSet::new();
        for o in OTHERS {
            let id = (o.operation)()["operationId"]
                .as_str()
                .expect("operationId")
                .to_string();
            assert!(ids.insert(id.clone()), "operationId {id} is used twice");
        }
        for r in crate::http::api::ROUTES {
            assert!(
                !OTHERS.iter().any(|o| o.path == r.path),
                "{} is in both",
                r.path
            );
            let id = super::super::operation(r)["operationId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(!ids.contains(&id), "{id} is an /api operation's too");
        }
    }

    #[test]
    fn every_operation_is_complete() {
        const TAGS: [&str; 5] = ["webhooks", "sandbox", "insights", "operations", "pages"];
        for (i, o) in OTHERS.iter().enumerate() {
            let at = format!("{} {}", o.method, o.path);
            assert!(
                !OTHERS[..i]
                    .iter()
                    .any(|p| p.method == o.method && p.path == o.path),
                "{at} is listed twice"
            );
            assert!(matches!(o.method, "GET" | "POST"), "{at}");
            assert!(
                o.path.starts_with('/') && !o.path.starts_with("/api/"),
                "{at}"
            );
            let operation = (o.operation)();
            for key in ["summary", "description", "operationId"] {
                assert!(
                    operation[key].as_str().is_some_and(|s| !s.is_empty()),
                    "{at}: no {key}"
                );
            }
            let tags = operation["tags"].as_array().expect("tags");
            assert!(
                tags.len() == 1 && TAGS.iter().any(|&tag| tags[0] == tag),
                "{at}: {tags:?}"
            );
            assert_eq!(operation["security"], json!([]), "{at}");
            let responses = operation["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{at}: no responses");
            for (status, r) in responses {
                assert!(
                    r["description"].is_string(),
                    "{at} {status}: no description"
                );
                // A redirect has no body; every other answer says what its body is.
                assert!(
                    status.starts_with('3') || r["content"].is_object(),
                    "{at} {status}: no content"
                );
            }
            let sandboxed = o.path.starts_with("/sandbox") || o.path == "/insights";
            if sandboxed && o.path != "/sandbox/" {
                assert!(responses.contains_key("403"), "{at}: no 403");
            }
            if o.method == "POST" {
                assert!(
                    operation["requestBody"]["content"].is_object(),
                    "{at}: no request body"
                );
                if o.path.starts_with("/sandbox/api/") {
                    assert!(responses.contains_key("415"), "{at}: no 415");
                }
            }
        }
    }
}
