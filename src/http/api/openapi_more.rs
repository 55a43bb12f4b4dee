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
//! Written from the handlers and the types they read and write (`crate::sandbox::{inject,
//! view, traces}`, `crate::engine::trace`, `crate::flows::triggers::explain`,
//! `crate::http::insights::report`): a change there must be made here too. Errors are in
//! the path family's shape (`crate::http::error`): `{"error": "<code>", "message"}` under
//! `/sandbox`, `{"success": false, "error", "error_code"}` under `/webhooks`.

use crate::domain::insight::{Outcome, StepCount};
use crate::domain::limits::TEXT_MAX;
use crate::sandbox::inject::NAME_MAX;
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
    other("GET", "/sandbox", get_sandbox),
    other("POST", "/sandbox/api/messages", post_messages),
    other("GET", "/sandbox/api/contacts/{phone}", get_contact),
    other("GET", "/sandbox/api/contacts/{phone}/messages", get_chat),
    other("POST", "/sandbox/api/contacts/{phone}/release", post_release),
    other("POST", "/sandbox/api/customers", post_customers),
    other("GET", "/sandbox/api/events/{id}/trace", get_trace),
    other("GET", "/sandbox/api/flows", get_flows),
    other("POST", "/sandbox/api/explain", post_explain),
    other("GET", "/sandbox/api/clock", get_clock),
    other("POST", "/sandbox/api/clock", post_clock),
    other("GET", "/sandbox/api/media/{sha256}", get_media),
    other("GET", "/insights", get_insights),
    other("GET", "/sandbox/api/insights/flows", get_insights_flows),
    other("GET", "/sandbox/api/insights/flows/{flow}", get_insights_flow),
];

/// The longest id, title, file name or place name a sandbox customer may send
/// (`SHORT_TEXT_MAX` in `crate::sandbox::inject`, private there).
const SHORT_TEXT_MAX: usize = 1_024;

// Schemas used everywhere.

fn t(kind: &str) -> Value {
    json!({ "type": kind })
}

fn nullable(kind: &str) -> Value {
    json!({ "type": [kind, "null"] })
}

fn time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

fn time_or_null() -> Value {
    json!({ "type": ["string", "null"], "format": "date-time" })
}

fn list(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

fn or_null(schema: Value) -> Value {
    json!({ "oneOf": [schema, { "type": "null" }] })
}

fn obj(required: &[&str], props: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": props })
}

fn described(kind: &str, description: &str) -> Value {
    json!({ "type": kind, "description": description })
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

fn path_param(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": schema })
}

/// An operation: none takes the API key (`security: []`).
fn op(id: &str, tag: &str, summary: &str, description: &str, parameters: Vec<Value>, responses: Value) -> Value {
    json!({
        "summary": summary, "description": description, "operationId": id, "tags": [tag],
        "security": [], "parameters": parameters, "responses": responses,
    })
}

fn with_body(mut operation: Value, body: Value) -> Value {
    operation["requestBody"] = body;
    operation
}

fn json_body(required: bool, description: &str, schema: Value) -> Value {
    json!({ "required": required, "description": description,
            "content": { "application/json": { "schema": schema } } })
}

/// A response whose body is `mime`.
fn answer(description: &str, mime: &str, schema: Value) -> Value {
    let mut content = Map::new();
    content.insert(mime.to_string(), json!({ "schema": schema }));
    json!({ "description": description, "content": content })
}

fn json_answer(description: &str, schema: Value) -> Value {
    answer(description, "application/json", schema)
}

fn redirect(description: &str) -> Value {
    json!({ "description": description, "headers": { "Location": { "schema": { "const": "/sandbox" } } } })
}

/// An HTML page of the sandbox family, with the headers that keep it from being framed.
fn page(description: &str) -> Value {
    let mut page = answer(description, "text/html", t("string"));
    page["headers"] = json!({
        "Content-Security-Policy": { "schema": t("string") },
        "X-Frame-Options": { "schema": { "const": "DENY" } } });
    page
}

// Webhooks.

/// The webhooks' error shape (the API's): `{"success": false, "error", "error_code"}`.
fn webhook_error(description: &str, code: &str) -> Value {
    json_answer(description, obj(&["success", "error", "error_code"], json!({
        "success": { "const": false }, "error": t("string"), "error_code": { "const": code } })))
}

fn webhook_refusals(description: &str, bad_body: &str) -> Value {
    json!({
        "400": webhook_error(bad_body, "INVALID_REQUEST"),
        "401": webhook_error(description, "UNAUTHORIZED"),
        "413": webhook_error("The body is larger than `webhooks.max_body_bytes` (1 MiB by default); the error names the limit. Nothing is stored.", "PAYLOAD_TOO_LARGE"),
        "503": webhook_error("The webhook could not be stored within `webhooks.ack_timeout` (2 s), or too many wait to be (`webhooks.max_waiting`): the provider retries. The message never carries the database's words.", "UNAVAILABLE"),
    })
}

fn get_webhooks_meta() -> Value {
    let mode = json!({ "name": "hub.mode", "in": "query", "required": true, "schema": { "const": "subscribe" } });
    let token = json!({ "name": "hub.verify_token", "in": "query", "required": true, "schema": t("string"),
        "description": "Must equal a Meta sender's `meta.verify_token`" });
    let challenge = json!({ "name": "hub.challenge", "in": "query", "required": true, "schema": t("string"),
        "description": "Echoed back when the handshake succeeds" });
    op("get_webhooks_meta", "webhooks", "Meta's webhook verification handshake",
        "Called by Meta when the callback URL is saved in the app's WhatsApp configuration. When `hub.mode` is `subscribe` and `hub.verify_token` equals a Meta sender's `meta.verify_token`, answers `hub.challenge` as plain text and notes the webhook as verified for those senders (the sender health check). No API key, no signature.",
        vec![mode, token, challenge],
        json!({
            "200": answer("The handshake succeeded: the body is `hub.challenge`", "text/plain", t("string")),
            "403": webhook_error("Refused: the verify token matches no Meta sender's, `hub.mode` is not `subscribe`, or `hub.challenge` is missing (the message says which)", "FORBIDDEN"),
        }))
}

/// What Meta posts: a WhatsApp Business Account notification.
fn meta_notification() -> Value {
    let metadata = obj(&["phone_number_id"], json!({ "display_phone_number": t("string"),
        "phone_number_id": described("string", "Routes the change to the sender with this `meta.phone_number_id`") }));
    let value = json!({ "type": "object", "properties": {
        "messaging_product": { "const": "whatsapp" }, "metadata": metadata,
        "contacts": list(t("object")), "messages": list(t("object")), "statuses": list(t("object")),
        "errors": list(t("object")) } });
    let change = obj(&["field", "value"], json!({ "value": value,
        "field": described("string", "`messages`, `user_id_update`, `smb_message_echoes`, `history`, `calls`, template and marketing-preference updates…; other fields are acknowledged and ignored") }));
    obj(&["object", "entry"], json!({
        "object": described("string", "`whatsapp_business_account`"),
        "entry": list(obj(&["id", "changes"], json!({
            "id": described("string", "The WhatsApp Business Account id"), "changes": list(change) }))) }))
}

fn post_webhooks_meta() -> Value {
    let signature = json!({ "name": "X-Hub-Signature-256", "in": "header", "required": true,
        "description": "`sha256=` and the hex HMAC-SHA256 of the raw body with a Meta sender's `app_secret`",
        "schema": { "type": "string", "pattern": "^sha256=[0-9a-fA-F]{64}$" } });
    let mut responses = webhook_refusals(
        "`X-Hub-Signature-256` is missing or matches no Meta sender's `app_secret`; nothing is stored",
        "Signed, but the body is not JSON (not UTF-8 text, or not JSON's syntax); nothing is stored",
    );
    responses["200"] = answer("Stored durably (deduplicated by provider message id) before this answer; `EVENT_RECEIVED <n>`, n the items stored. Items Parley cannot read, unknown event types and numbers no sender has are logged, counted and acknowledged too, so Meta never retries a batch over one of them.",
        "text/plain", json!({ "type": "string", "pattern": "^EVENT_RECEIVED [0-9]+$" }));
    with_body(
        op("post_webhooks_meta", "webhooks", "Meta's webhook: messages, statuses and account updates",
            "Meta (WhatsApp Cloud API) posts messages, delivery statuses, template and account changes here. The signature is checked over the raw body before anything is parsed or stored; messages go to the sender whose `meta.phone_number_id` matches `metadata.phone_number_id`, and are processed after the answer, by the inbox. No API key: the signature is the authentication.",
            vec![signature], responses),
        json_body(true, "Meta's notification, as signed", meta_notification()),
    )
}

/// The Twilio form parameters Parley reads (Twilio sends more; all are signed).
const TWILIO_FIELDS: &[(&str, &str)] = &[
    ("MessageSid", "The message's SID (`SM…`); `SmsMessageSid` is read when it is missing"),
    ("AccountSid", "The Twilio account"),
    ("From", "`whatsapp:+E.164`: the customer on a message, the sender's number on a status callback (routes it)"),
    ("To", "`whatsapp:+E.164`: the sender's number on a message (routes it), the customer on a status"),
    ("Body", "The text, or a media caption"),
    ("ProfileName", "The customer's WhatsApp profile name"),
    ("WaId", "The customer's WhatsApp id"),
    ("ExternalUserIdentifier", "The customer's business-scoped user id"),
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
    ("ReferralSourceId", "The ad a click-to-WhatsApp customer came from (and the other `Referral…` fields)"),
    ("MessageStatus", "Status callbacks: sent, delivered, read, failed, undelivered (queued, accepted, sending… are ignored)"),
    ("ErrorCode", "Status callbacks: Twilio's error code"),
    ("ErrorMessage", "Status callbacks: its text"),
];

fn post_webhooks_twilio() -> Value {
    let properties: Map<String, Value> = TWILIO_FIELDS
        .iter()
        .map(|(name, about)| (name.to_string(), described("string", about)))
        .collect();
    let form = json!({ "type": "object", "required": ["MessageSid", "From", "To"], "properties": properties,
        "additionalProperties": { "type": "string" },
        "description": "At most 200 parameters. A verified form Parley cannot route (a parameter missing, a value it cannot read) is logged, counted and still answered 200." });
    let signature = json!({ "name": "X-Twilio-Signature", "in": "header", "required": true,
        "description": "Base64 HMAC-SHA1, with a Twilio sender's `auth_token`, of the URL Twilio called (`public_url` + path and query; without `public_url`, rebuilt from `Host` and `X-Forwarded-Proto`) and the sorted parameters",
        "schema": { "type": "string", "pattern": "^[A-Za-z0-9+/]{27}=$" } });
    let outbox = query("parley_outbox", t("integer"),
        "Set by Parley in the `StatusCallback` URL of its own sends (signed with the URL): the outbox id the status is about");
    let mut responses = webhook_refusals(
        "No Twilio sender is configured, `X-Twilio-Signature` is missing or not shaped like one, or it matches no Twilio sender's `auth_token` for the URL (the message names the URL Parley checked); nothing is stored",
        "Signed-shaped, but the body is not a form: not UTF-8 once decoded, or more than 200 parameters (refused before any is decoded); nothing is stored",
    );
    responses["200"] = answer("Stored durably (deduplicated by MessageSid), or acknowledged and ignored: an empty TwiML response, so Twilio sends nothing more",
        "text/xml", json!({ "const": "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>" }));
    let body = json!({ "required": true, "description": "Twilio's inbound-message or status-callback form",
        "content": { "application/x-www-form-urlencoded": { "schema": form } } });
    with_body(
        op("post_webhooks_twilio", "webhooks", "Twilio's webhook: inbound messages and status callbacks",
            "Set as \"A message comes in\" and as the status callback of the Twilio WhatsApp sender. Inbound messages are routed by the `To` number, statuses by `From`. The signature is checked before the form is read; no API key.",
            vec![signature, outbox], responses),
        body,
    )
}

// Operations.

fn get_healthz() -> Value {
    op("get_healthz", "operations", "Liveness: the process answers",
        "Always `ok` while the HTTP thread runs; checks nothing else. No API key; the one operations route meant to be reachable from outside.",
        vec![],
        json!({ "200": answer("The process answers", "text/plain", json!({ "const": "ok" })) }))
}

fn readiness() -> Value {
    let database = json!({ "oneOf": [
        obj(&["ok", "backend"], json!({ "ok": { "const": true }, "backend": { "enum": ["sqlite", "postgres"] } })),
        obj(&["ok", "error"], json!({ "ok": { "const": false }, "error": described("string", "Why, without the driver's words (they are in the log)") }))
    ] });
    let flows = obj(&["loaded", "stale", "loaded_at", "problems"], json!({
        "loaded": t("integer"), "loaded_at": time_or_null(), "problems": list(t("string")),
        "stale": described("boolean", "The flow files have errors: the flows loaded before them still run") }));
    let stopped = obj(&["sender_id", "code", "reason", "stopped_at"], json!({
        "sender_id": t("integer"), "code": nullable("integer"), "reason": t("string"), "stopped_at": time() }));
    let template = obj(&["name", "language", "status"], json!({
        "name": t("string"), "language": t("string"), "status": nullable("string"), "reason": nullable("string"),
        "category": nullable("string"), "impending_category": nullable("string"), "impending_on": time_or_null() }));
    obj(&["status", "database", "flows", "stopped_senders", "templates_needing_attention", "warnings"], json!({
        "status": { "enum": ["ready", "not_ready"] }, "database": database, "flows": flows,
        "stopped_senders": list(stopped),
        "templates_needing_attention": described("array", "Templates Meta paused, disabled or rejected, or is about to move to another category"),
        "warnings": { "type": "array", "items": t("string"),
            "description": "What the deployment lacks without being broken (no flows, no senders, no API keys, a Graph API version near retirement); never makes it 503" } }))
        .pipe(|mut r| {
            r["properties"]["templates_needing_attention"]["items"] = template;
            r
        })
}

fn get_readyz() -> Value {
    op("get_readyz", "operations", "Readiness: the database answers, flows loaded",
        "200 when the database answers within 1 s and stores webhooks; reports the flows loaded and their problems, stopped senders, templates needing attention and warnings, none of which makes it 503. No API key: keep it off the internet (it names senders, templates and flow problems).",
        vec![],
        json!({
            "200": json_answer("Ready (`status: ready`)", readiness()),
            "503": json_answer("Not ready (`status: not_ready`): the database did not answer within 1 s, failed, refuses to store webhooks (a full disk), or the SQLite file was deleted or replaced", readiness()),
        }))
}

fn get_metrics() -> Value {
    op("get_metrics", "operations", "Prometheus metrics",
        "Prometheus text exposition: webhooks, messages, the outbox depth, stopped senders, stale flows, Graph API days left, media, language models and storage. Not protected — no API key and no other check: expose it only to the scraper (the README's proxy example does not forward it).",
        vec![],
        json!({ "200": answer("The metrics", "text/plain; version=0.0.4", t("string")) }))
}

// Pages.

fn get_root() -> Value {
    op("get_root", "pages", "Parley's address in a browser",
        "Redirects to the sandbox while it is served; otherwise a page of links (`/healthz`, `/readyz`, `/metrics`, `/api/openapi.json`) that says why the sandbox is off. No API key.",
        vec![],
        json!({
            "200": answer("The sandbox is off: the page of links, saying why", "text/html", t("string")),
            "303": redirect("The sandbox is served: go to `/sandbox`"),
        }))
}

fn get_sandbox_slash() -> Value {
    op("get_sandbox_slash", "pages", "`/sandbox/` goes to `/sandbox`",
        "Always redirects, the sandbox on or off (off, `/sandbox` then answers 404 saying why). No API key, and no loopback check: it only redirects.",
        vec![],
        json!({ "303": redirect("Go to `/sandbox`") }))
}

// The sandbox: its page and API.

/// Who may call a sandbox or Insights route, and for a `post`, the JSON-only rule.
fn on_this_machine(what: &str, post: bool) -> String {
    let json_only = if post {
        " Needs `Content-Type: application/json`, even with no body (415 otherwise): a web page cannot send that header to another site without asking."
    } else {
        ""
    };
    format!("{what} No API key: served only while a sender has `channel: sandbox` and `sandbox.enabled` is true, only reaches sandbox senders' conversations, and unless `sandbox.expose` answers only requests addressed to this machine (a loopback `Host`, no proxy forwarding headers, a loopback `Origin` on a POST).{json_only}")
}

/// The sandbox's error shape: `{"error": "<code in lower case>", "message": "…"}`.
fn sandbox_error(description: &str, codes: &[&str]) -> Value {
    json_answer(description, obj(&["error", "message"], json!({ "error": { "enum": codes }, "message": t("string") })))
}

const OFF: &str = "The sandbox is off (`sandbox_off`): no sender has `channel: sandbox`, or `sandbox.enabled` is false; the message says which config key turns it on";

fn bad_request(description: &str) -> Value {
    sandbox_error(description, &["bad_request"])
}

fn not_found(description: &str) -> Value {
    sandbox_error(&format!("{description}; or {OFF}"), &["not_found", "sandbox_off"])
}

fn unavailable(read: bool) -> Value {
    let said = if read { "the data could not be read, please retry" } else { "the request could not be stored, please retry" };
    sandbox_error(&format!("The database could not be reached; the message is \"{said}\" (its words are logged, never sent)"), &["unavailable"])
}

fn too_large(limit: &str) -> Value {
    sandbox_error(&format!("The body is larger than {limit}"), &["payload_too_large"])
}

/// Adds what every sandbox route may answer: 403 (not this machine), 404 (the sandbox is
/// off) unless the route has its own 404, and 415 for a POST without a JSON type.
fn local(post: bool, mut responses: Value) -> Value {
    if let Some(map) = responses.as_object_mut() {
        map.entry("403").or_insert_with(|| sandbox_error("Not addressed to this machine (a Host that is not loopback, a proxy's forwarding headers, or a POST from another origin's page) while `sandbox.expose` is off", &["forbidden"]));
        map.entry("404").or_insert_with(|| sandbox_error(OFF, &["sandbox_off"]));
        if post {
            map.entry("415").or_insert_with(|| sandbox_error("`Content-Type` is not `application/json`", &["unsupported_media_type"]));
        }
    }
    responses
}

fn get_sandbox() -> Value {
    op("get_sandbox", "sandbox", "The sandbox page: chat with the flows as a customer",
        &on_this_machine("A WhatsApp-like chat on the left, the trace of the last message and the flows on the right; buttons move the manual clock, release a handoff, start a new customer. Plain HTML with inline script, never framed.", false),
        vec![],
        json!({
            "200": page("The page"),
            "403": sandbox_error("Not addressed to this machine while `sandbox.expose` is off", &["forbidden"]),
            "404": answer("The sandbox is off: plain text saying why and which config key turns it on", "text/plain", t("string")),
        }))
}

fn phone() -> Value {
    path_param("phone", t("string"), "The customer's number, like `+34600000001` (`%2B34600000001` too); not a phone number is 400")
}

fn sender_query() -> Value {
    query("sender_id", t("integer"), "A sandbox sender's id; the first sandbox sender when left out. A sender that is not a sandbox sender is 400.")
}

/// A sandbox customer's message (`crate::sandbox::inject::CustomerMessage`).
fn customer_message(explain: bool) -> Value {
    let short = json!({ "type": "string", "maxLength": SHORT_TEXT_MAX });
    let tap = json!({ "type": "object", "additionalProperties": false, "required": ["id"],
        "properties": { "id": short, "title": described("string", "What the customer saw; the id when left out") } });
    let media = json!({ "type": "object", "additionalProperties": false, "required": ["kind"], "properties": {
        "kind": { "enum": ["image", "video", "audio", "document", "sticker"] }, "url": short,
        "caption": { "type": "string", "maxLength": TEXT_MAX }, "filename": short,
        "data": { "type": "string", "contentEncoding": "base64", "description": "The file itself, kept in the media store (at most a provider's limit for its kind)" },
        "mime_type": described("string", "The file's type, like `image/png`") } });
    let location = json!({ "type": "object", "additionalProperties": false, "required": ["latitude", "longitude"], "properties": {
        "latitude": { "type": "number", "minimum": -90, "maximum": 90 },
        "longitude": { "type": "number", "minimum": -180, "maximum": 180 }, "name": short, "address": short } });
    let form = json!({ "type": "object", "additionalProperties": false, "required": ["token"], "properties": {
        "token": described("string", "The `flow_token` of the form the bot sent"), "response": t("object") } });
    let from = if explain {
        "The customer's number; `\"\"` for one that never wrote (`+10000000000`). With a number, its conversation decides `waiting` and `new_contact`."
    } else {
        "The customer's number, like `+34600000001`"
    };
    json!({ "type": "object", "additionalProperties": false, "required": ["from"],
        "description": "Exactly one of text, button, list, quick_reply, media, location, form, address.",
        "properties": {
            "from": described("string", from), "name": { "type": "string", "maxLength": NAME_MAX },
            "sender_id": described("integer", "A sandbox sender; the first one when left out"),
            "id": { "type": "string", "maxLength": SHORT_TEXT_MAX, "description": "The provider message id; the same id twice tests deduplication" },
            "text": { "type": "string", "minLength": 1, "maxLength": TEXT_MAX },
            "button": tap, "list": tap, "quick_reply": tap, "media": media, "location": location, "form": form,
            "address": { "type": "object", "additionalProperties": { "type": "string" }, "description": "WhatsApp's address form: name, in_pin_code, city…" },
            "referral": { "type": "string", "maxLength": SHORT_TEXT_MAX, "description": "Came from a click-to-WhatsApp ad with this id" } } })
}

/// What the customer's message was refused for (`CustomerMessage` and its checks).
fn message_refusals(mut responses: Value) -> Value {
    responses["400"] = bad_request("Not a message: invalid JSON, an unknown field, not exactly one kind of content, an empty text, a bad media kind or base64, a location off the globe, `from` not a phone number, or a sender that is not a sandbox sender");
    responses["422"] = sandbox_error("A text or caption over 4,096 characters, a name over 256, another string over 1,024 (`validation_error`, the message names the field and limit); nothing is stored", &["validation_error"]);
    responses
}

fn post_messages() -> Value {
    let wait = query("wait", t("boolean"), "Wait for the bot's replies and the trace (default true)");
    let seconds = query("wait_seconds", json!({ "type": "integer", "minimum": 1, "maximum": 120, "default": 5 }),
        "How long to wait for them: a slow model takes longer; outside 1–120 is 400");
    let ok = obj(&["message"], json!({
        "message": injected(), "replies": list(sent_message()), "trace": or_null(traced_event()),
        "pending": described("boolean", "Present when it waited: true when the bot had not finished within the wait (its replies come later, in GET …/messages)") }));
    let responses = message_refusals(json!({
        "200": json_answer("Stored and handled like a provider's message: the event and, unless `wait=false` or a duplicate, the bot's replies and the trace", ok),
        "413": too_large("2 MiB, this route's limit (room for an attached file)"),
        "503": unavailable(false),
    }));
    with_body(
        op("post_sandbox_api_messages", "sandbox", "A sandbox customer writes",
            &on_this_machine("Injects a customer message into a sandbox sender through the same ingest path as a webhook, then waits (up to `wait_seconds`) for the bot's replies and the trace.", true),
            vec![wait, seconds], local(true, responses)),
        json_body(true, "The customer's message", customer_message(false)),
    )
}

fn get_contact() -> Value {
    op("get_sandbox_api_contacts_phone", "sandbox", "A sandbox customer as the bot sees them",
        &on_this_machine("Tags, saved details, the window, the flow in progress and its variables.", false),
        vec![phone(), sender_query()],
        local(false, json!({
            "200": json_answer("The contact", contact_view()),
            "400": bad_request("Not a phone number, a `sender_id` that is not a number or not a sandbox sender"),
            "404": not_found("The customer has not written to this sender"),
            "503": unavailable(true),
        })))
}

fn get_chat() -> Value {
    let ok = obj(&["phone", "messages", "typing"], json!({
        "phone": t("string"), "conversation_id": described("integer", "Absent when the customer never wrote"),
        "handoff": described("null", "The handoff in force, or null; absent when the customer never wrote"),
        "messages": { "type": "array", "description": "Oldest first: the customer's, the bot's, and where handoffs began and ended",
            "items": { "oneOf": [inbound_line(), { "allOf": [sent_message(), obj(&["direction"], json!({ "direction": { "const": "out" } }))] }, system_line()] } },
        "typing": described("boolean", "A `typing: true` flow's slow step is running for this customer") }))
    .pipe(|mut r| {
        r["properties"]["handoff"] = json!({ "oneOf": [handoff(), { "type": "null" }], "description": "The handoff in force, or null; absent when the customer never wrote" });
        r
    });
    op("get_sandbox_api_contacts_phone_messages", "sandbox", "A sandbox conversation, both ways",
        &on_this_machine("The customer's messages (the last 200) and the bot's, each with its delivery status, and `system` lines where a handoff to a person began or ended.", false),
        vec![phone(), sender_query()],
        local(false, json!({
            "200": json_answer("The conversation (`messages: []` when the customer never wrote)", ok),
            "400": bad_request("Not a phone number, a `sender_id` that is not a number or not a sandbox sender"),
            "404": not_found("The phone is not UTF-8 once percent-decoded"),
            "503": unavailable(true),
        })))
}

fn post_release() -> Value {
    let ok = obj(&["phone", "conversation_id", "handoff_since", "released"], json!({
        "phone": t("string"), "conversation_id": t("integer"), "handoff_since": time(),
        "released": described("boolean", "The bot had the conversation back within 5 s") }));
    with_body(
        op("post_sandbox_api_contacts_phone_release", "sandbox", "End a sandbox customer's handoff to a person",
            &on_this_machine("As `POST /api/conversations/{id}/release` does, then waits up to 5 s for the bot to have the conversation back. The body is not read.", true),
            vec![phone(), sender_query()],
            local(true, json!({
                "200": json_answer("Release queued; `released` says whether it is done", ok),
                "400": bad_request("Not a phone number, a `sender_id` that is not a number or not a sandbox sender"),
                "404": not_found("The customer has not written to this sender"),
                "409": sandbox_error("The conversation is not in a handoff", &["not_in_handoff"]),
                "413": too_large("64 KiB"),
                "503": unavailable(false),
            }))),
        json_body(false, "Not read; send `Content-Type: application/json` all the same", t("object")),
    )
}

fn post_customers() -> Value {
    let ok = obj(&["phone", "sender_id"], json!({ "phone": described("string", "A Spanish mobile number, like `+34612345678`"), "sender_id": t("integer") }));
    with_body(
        op("post_sandbox_api_customers", "sandbox", "A phone number that has never written",
            &on_this_machine("Picks a number that has never written to the sandbox sender, to try the flows as a new customer. The body is not read.", true),
            vec![sender_query()],
            local(true, json!({
                "200": json_answer("A fresh number", ok),
                "400": bad_request("A `sender_id` that is not a number or not a sandbox sender"),
                "409": sandbox_error("Every number tried (20) has written already; try again", &["conflict"]),
                "413": too_large("64 KiB"),
                "503": unavailable(false),
            }))),
        json_body(false, "Not read; send `Content-Type: application/json` all the same", t("object")),
    )
}

fn get_trace() -> Value {
    let id = path_param("id", t("integer"), "The event's id (`event_id` in the conversation or in `POST /sandbox/api/messages`'s answer)");
    op("get_sandbox_api_events_id_trace", "sandbox", "The trace of one sandbox event",
        &on_this_machine("Every trigger and why it matched or not, the steps that ran, variables before and after, the window, sends, timers, errors and language-model exchanges. The last 1,000 sandbox events are kept, in memory.", false),
        vec![id],
        local(false, json!({
            "200": json_answer("The trace", traced_event()),
            "404": not_found("No trace: the id is not a whole number, not a sandbox event, not processed yet, or older than the last 1,000 events"),
        })))
}

fn get_flows() -> Value {
    let flow = obj(&["id", "file", "description", "priority", "steps", "schedule", "triggers"], json!({
        "id": t("string"), "file": t("string"), "description": nullable("string"), "priority": t("integer"),
        "steps": described("integer", "The entries of `steps:`"),
        "schedule": { "type": ["string", "null"], "description": "The cron text of a scheduled flow" },
        "triggers": list(obj(&["line", "trigger"], json!({ "line": t("integer"), "trigger": described("string", "As written, like `keyword [hi, hello]`") }))) }));
    let problem = obj(&["file", "line", "column", "severity", "message", "hint"], json!({
        "file": t("string"), "line": t("integer"), "column": t("integer"),
        "severity": { "enum": ["error", "warning"] }, "message": t("string"), "hint": nullable("string") }));
    let ok = obj(&["flows", "problems", "stale", "loaded_at"], json!({
        "flows": list(flow), "problems": list(obj(&["problem", "text"], json!({ "problem": problem, "text": t("string") }))),
        "stale": described("boolean", "The files have errors: the flows listed are the earlier ones, still running"),
        "loaded_at": time_or_null() }));
    op("get_sandbox_api_flows", "sandbox", "The flows running and the problems of the last load",
        &on_this_machine("The flows, their triggers, and the problems of the last load (a broken edit keeps the previous flows running).", false),
        vec![],
        local(false, json!({ "200": json_answer("The flows", ok) })))
}

fn post_explain() -> Value {
    let responses = message_refusals(json!({
        "200": json_answer("Every trigger's verdict in precedence order, the winner, or the nearest miss", explanation()),
        "413": too_large("64 KiB"),
        "503": unavailable(false),
    }));
    with_body(
        op("post_sandbox_api_explain", "sandbox", "How the triggers judge a message, without sending it",
            &on_this_machine("Nothing is stored or sent; with `from`, the customer's conversation decides `waiting` and `new_contact`.", true),
            vec![], local(true, responses)),
        json_body(true, "A customer message, as for `POST /sandbox/api/messages` (`media.data` is not stored)", customer_message(true)),
    )
}

fn clock() -> Value {
    obj(&["now", "manual"], json!({ "now": time(),
        "manual": described("boolean", "`sandbox.manual_clock` is on: the clock moves only when told") }))
}

fn get_clock() -> Value {
    op("get_sandbox_api_clock", "sandbox", "The sandbox's time",
        &on_this_machine("The clock's time, and whether it is the manual clock.", false),
        vec![],
        local(false, json!({ "200": json_answer("The time", clock()) })))
}

fn post_clock() -> Value {
    let change = json!({ "type": "object", "additionalProperties": false,
        "oneOf": [{ "required": ["advance"] }, { "required": ["set"] }], "properties": {
            "advance": described("string", "A duration like `2h` or `23h 30m`"),
            "set": { "type": "string", "format": "date-time", "description": "RFC 3339; not before the clock's time, nor more than 10 years after it" } } });
    let mut moved = clock();
    moved["properties"]["timer_stops"] = described("integer", "Timers the clock stopped at on the way (at most 1,000), each handled before it moved on");
    moved["required"] = json!(["now", "manual", "timer_stops"]);
    with_body(
        op("post_sandbox_api_clock", "sandbox", "Move the manual clock forward",
            &on_this_machine("Only with `sandbox.manual_clock`; only forward. Stops at every timer due on the way (a `delay`, an `ask`'s timeout, a `window_closing` reminder) and lets the bot handle it (waiting 5 s at most in all).", true),
            vec![],
            local(true, json!({
                "200": json_answer("The clock's new time", moved),
                "400": bad_request("Not `{\"advance\"}` or `{\"set\"}` alone, an unknown field, a duration or time that does not read, a time before the clock's or more than 10 years after it"),
                "409": sandbox_error("The clock is the system clock (`sandbox.manual_clock` is off)", &["conflict"]),
                "413": too_large("64 KiB"),
                "503": unavailable(false),
            }))),
        json_body(true, "Either `advance` or `set`", change),
    )
}

fn get_media() -> Value {
    let sha = path_param("sha256", json!({ "type": "string", "pattern": "^[0-9a-f]{64}$" }), "The file's SHA-256 (`media.url` of an inbound message in the conversation)");
    let mut file = answer("The file as the bot keeps it, in its own type (`Content-Disposition: inline` for images, audio and video, `attachment` otherwise)",
        "*/*", json!({ "type": "string", "format": "binary" }));
    file["headers"] = json!({ "Content-Disposition": { "schema": { "enum": ["inline", "attachment"] } } });
    op("get_sandbox_api_media_sha256", "sandbox", "A file a sandbox customer sent",
        &on_this_machine("Only files of sandbox senders' messages (the sandbox has no API key; `GET /api/media/{sha256}` serves the others).", false),
        vec![sha],
        local(false, json!({
            "200": file,
            "404": not_found("No sandbox media file has this SHA-256 (or it is not one)"),
            "503": unavailable(true),
        })))
}
