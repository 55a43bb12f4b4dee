//! The sandbox page and API (`/sandbox`, `/sandbox/api/…`, `crate::http::sandbox`) for
//! `others.rs`, which lists them with the other routes outside `/api`: the operations, the
//! sandbox's error shape and access rules (shared with the Insights reads), and the shapes
//! of the types the handlers read and write (`crate::sandbox::{inject, view, traces}`,
//! `crate::engine::trace`, `crate::flows::triggers::explain`).

use super::schema::{
    answer, described, json_answer, json_body, list, nullable, obj, op, or_null, page, path_param,
    query, t, time, time_or_null, with_body,
};
use crate::domain::limits::TEXT_MAX;
use crate::sandbox::inject::NAME_MAX;
use serde_json::{json, Value};

/// The longest id, title, file name or place name a sandbox customer may send
/// (`SHORT_TEXT_MAX` in `crate::sandbox::inject`, private there).
const SHORT_TEXT_MAX: usize = 1_024;

mod customers;
pub(super) use customers::post_customers;

/// Who may call a sandbox or Insights route, and for a `post`, the JSON-only rule.
pub(super) fn on_this_machine(what: &str, post: bool) -> String {
    let json_only = if post {
        " Needs `Content-Type: application/json`, even with no body (415 otherwise): a web \
         page cannot send that header to another site without asking."
    } else {
        ""
    };
    format!(
        "{what} No API key: served only while a sender has `channel: sandbox` and \
         `sandbox.enabled` is true, only reaches sandbox senders' conversations, and unless \
         `sandbox.expose` answers only requests addressed to this machine (a loopback `Host`, \
         no proxy forwarding headers, a loopback `Origin` on a POST).{json_only}"
    )
}

/// The sandbox's error shape: `{"error": "<code in lower case>", "message": "…"}`.
pub(super) fn sandbox_error(description: &str, codes: &[&str]) -> Value {
    let shape = json!({ "error": { "enum": codes }, "message": t("string") });
    json_answer(description, obj("error message", shape))
}

const OFF: &str = "The sandbox is off (`sandbox_off`): no sender has `channel: sandbox`, or \
    `sandbox.enabled` is false; the message says which config key turns it on";

fn bad_request(description: &str) -> Value {
    sandbox_error(description, &["bad_request"])
}

pub(super) fn not_found(description: &str) -> Value {
    let description = format!("{description}; or {OFF}");
    sandbox_error(&description, &["not_found", "sandbox_off"])
}

pub(super) fn unavailable(read: bool) -> Value {
    let said = if read {
        "the data could not be read, please retry"
    } else {
        "the request could not be stored, please retry"
    };
    let description = format!(
        "The database could not be reached; the message is \"{said}\" (its words are logged, \
         never sent)"
    );
    sandbox_error(&description, &["unavailable"])
}

fn too_large(limit: &str) -> Value {
    let description = format!("The body is larger than {limit}");
    sandbox_error(&description, &["payload_too_large"])
}

/// Adds what every sandbox route may answer: 403 (not this machine), 404 (the sandbox is
/// off) unless the route has its own 404, and 415 for a POST without a JSON type.
pub(super) fn local(post: bool, mut responses: Value) -> Value {
    let foreign = "Not addressed to this machine (a `Host` that is not loopback, a proxy's \
        forwarding headers, or a POST from another origin's page) while `sandbox.expose` is off";
    if let Some(map) = responses.as_object_mut() {
        map.entry("403")
            .or_insert_with(|| sandbox_error(foreign, &["forbidden"]));
        map.entry("404")
            .or_insert_with(|| sandbox_error(OFF, &["sandbox_off"]));
        if post {
            let not_json = "`Content-Type` is not `application/json`";
            map.entry("415")
                .or_insert_with(|| sandbox_error(not_json, &["unsupported_media_type"]));
        }
    }
    responses
}

/// `GET /sandbox`, the page.
pub(super) fn get_sandbox() -> Value {
    let responses = json!({
        "200": page("The page"),
        "403": sandbox_error("Not addressed to this machine while `sandbox.expose` is off", &["forbidden"]),
        "404": answer("The sandbox is off: plain text saying why and which config key turns it on", "text/plain", t("string")),
    });
    op(
        "get_sandbox",
        "sandbox",
        "The sandbox page: chat with the flows as a customer",
        &on_this_machine(
            "A WhatsApp-like chat on the left, the trace of the last message and the flows on \
             the right; buttons move the manual clock, release a handoff, start a new \
             customer. Plain HTML with inline script, never framed.",
            false,
        ),
        vec![],
        responses,
    )
}

fn phone() -> Value {
    path_param(
        "phone",
        t("string"),
        "The customer's number, like `+34600000001` (or `%2B34600000001`); not a phone number \
         is 400",
    )
}

fn sender_query() -> Value {
    query(
        "sender_id",
        t("integer"),
        "A sandbox sender's id; the first sandbox sender when left out. A sender that is not a \
         sandbox sender is 400.",
    )
}

/// A sandbox customer's message (`crate::sandbox::inject::CustomerMessage`).
fn customer_message(explain: bool) -> Value {
    let short = json!({ "type": "string", "maxLength": SHORT_TEXT_MAX });
    let tap = json!({
        "type": "object", "additionalProperties": false, "required": ["id"],
        "properties": {
            "id": short,
            "title": { "type": "string", "maxLength": SHORT_TEXT_MAX, "description": "What the customer saw; the id when left out" },
        },
    });
    let media = json!({
        "type": "object", "additionalProperties": false, "required": ["kind"],
        "properties": {
            "kind": { "enum": ["image", "video", "audio", "document", "sticker"] },
            "url": short, "caption": { "type": "string", "maxLength": TEXT_MAX }, "filename": short,
            "data": { "type": "string", "contentEncoding": "base64", "description": "The file itself, kept in the media store (at most a provider's limit for its kind)" },
            "mime_type": described("string", "The file's type, like `image/png`"),
        },
    });
    let location = json!({
        "type": "object", "additionalProperties": false, "required": ["latitude", "longitude"],
        "properties": {
            "latitude": { "type": "number", "minimum": -90, "maximum": 90 },
            "longitude": { "type": "number", "minimum": -180, "maximum": 180 },
            "name": short, "address": short,
        },
    });
    let form = json!({
        "type": "object", "additionalProperties": false, "required": ["token"],
        "properties": {
            "token": described("string", "The `flow_token` of the form the bot sent"),
            "response": t("object"),
        },
    });
    let from = if explain {
        "The customer's number; `\"\"` for one that never wrote (`+10000000000`). With a number, \
         its conversation decides `waiting` and `new_contact`."
    } else {
        "The customer's number, like `+34600000001`"
    };
    json!({
        "type": "object", "additionalProperties": false, "required": ["from"],
        "description": "Exactly one of text, button, list, quick_reply, media, location, form, address.",
        "properties": {
            "from": described("string", from),
            "name": { "type": "string", "maxLength": NAME_MAX },
            "sender_id": described("integer", "A sandbox sender; the first one when left out"),
            "id": { "type": "string", "maxLength": SHORT_TEXT_MAX, "description": "The provider message id; the same id twice tests deduplication" },
            "text": { "type": "string", "minLength": 1, "maxLength": TEXT_MAX },
            "button": tap, "list": tap, "quick_reply": tap,
            "media": media, "location": location, "form": form,
            "address": { "type": "object", "additionalProperties": { "type": "string" }, "description": "WhatsApp's address form: name, in_pin_code, city…" },
            "referral": { "type": "string", "maxLength": SHORT_TEXT_MAX, "description": "Came from a click-to-WhatsApp ad with this id" },
        },
    })
}

/// What a customer's message is refused for (`CustomerMessage` and its checks).
fn message_refusals(mut responses: Value) -> Value {
    responses["400"] = bad_request(
        "Not a message: invalid JSON, an unknown field, not exactly one kind of content, an \
         empty text, a bad media kind or base64, a location off the globe, `from` not a phone \
         number, or a sender that is not a sandbox sender",
    );
    responses["422"] = sandbox_error(
        "A text or caption over 4,096 characters, a name over 256, another string over 1,024 \
         (the message names the field and its limit); nothing is stored",
        &["validation_error"],
    );
    responses
}

pub(super) fn post_messages() -> Value {
    let wait = query(
        "wait",
        t("boolean"),
        "Wait for the bot's replies and the trace (default true)",
    );
    let seconds = query(
        "wait_seconds",
        json!({ "type": "integer", "minimum": 1, "maximum": 120, "default": 5 }),
        "How long to wait for them: a slow model takes longer; outside 1–120 is 400",
    );
    let ok = json!({
        "message": injected(), "replies": list(sent_message()), "trace": or_null(traced_event()),
        "pending": described("boolean", "Present when it waited: true when the bot had not finished within the wait (its replies come later, in GET …/messages)"),
    });
    let responses = message_refusals(json!({
        "200": json_answer("Stored and handled like a provider's message: the event and, unless `wait=false` or a duplicate, the bot's replies and the trace", obj("message", ok)),
        "413": too_large("2 MiB, this route's limit (room for an attached file)"),
        "503": unavailable(false),
    }));
    let operation = op(
        "post_sandbox_api_messages",
        "sandbox",
        "A sandbox customer writes",
        &on_this_machine(
            "Injects a customer message into a sandbox sender through the same ingest path as a \
             webhook, then waits (up to `wait_seconds`) for the bot's replies and the trace.",
            true,
        ),
        vec![wait, seconds],
        local(true, responses),
    );
    let body = json_body(true, "The customer's message", customer_message(false));
    with_body(operation, body)
}

pub(super) fn get_contact() -> Value {
    let responses = json!({
        "200": json_answer("The contact", contact_view()),
        "400": bad_request("Not a phone number, or a `sender_id` that is not a number or not a sandbox sender"),
        "404": not_found("The customer has not written to this sender"),
        "503": unavailable(true),
    });
    op(
        "get_sandbox_api_contacts_phone",
        "sandbox",
        "A sandbox customer as the bot sees them",
        &on_this_machine(
            "Tags, saved details, the window, the flow in progress and its variables.",
            false,
        ),
        vec![phone(), sender_query()],
        local(false, responses),
    )
}

pub(super) fn get_chat() -> Value {
    let direction = json!({ "direction": { "const": "out" } });
    let out = json!({ "allOf": [sent_message(), obj("direction", direction)] });
    let chat = json!({
        "phone": t("string"),
        "conversation_id": {
            "type": ["integer", "null"],
            "description": "Null when the customer never wrote",
        },
        "handoff": {
            "oneOf": [handoff(), { "type": "null" }],
            "description": "The handoff in force, or null",
        },
        "messages": {
            "type": "array", "items": { "oneOf": [inbound_line(), out, system_line()] },
            "description": "Oldest first: the customer's, the bot's, and where handoffs began and ended",
        },
        "typing": described("boolean", "A `typing: true` flow's slow step is running for this customer"),
    });
    let responses = json!({
        "200": json_answer("The conversation (`messages: []` when the customer never wrote)", obj("phone conversation_id handoff messages typing", chat)),
        "400": bad_request("Not a phone number, or a `sender_id` that is not a number or not a sandbox sender"),
        "404": not_found("The phone is not UTF-8 once percent-decoded"),
        "503": unavailable(true),
    });
    op(
        "get_sandbox_api_contacts_phone_messages",
        "sandbox",
        "A sandbox conversation, both ways",
        &on_this_machine(
            "The customer's messages (the last 200) and the bot's, each with its delivery \
             status, and `system` lines where a handoff to a person began or ended.",
            false,
        ),
        vec![phone(), sender_query()],
        local(false, responses),
    )
}

/// The body of the POSTs that read none: `Content-Type: application/json` is still needed.
fn unread_body() -> Value {
    let about = "Not read; send `Content-Type: application/json` all the same";
    json_body(false, about, t("object"))
}

pub(super) fn post_release() -> Value {
    let released = json!({
        "phone": t("string"), "conversation_id": t("integer"), "handoff_since": time(),
        "released": described("boolean", "The bot had the conversation back within 5 s"),
    });
    let required = "phone conversation_id handoff_since released";
    let responses = json!({
        "200": json_answer("Release queued; `released` says whether it is done", obj(required, released)),
        "400": bad_request("Not a phone number, or a `sender_id` that is not a number or not a sandbox sender"),
        "404": not_found("The customer has not written to this sender"),
        "409": sandbox_error("The conversation is not in a handoff", &["not_in_handoff"]),
        "503": unavailable(false),
    });
    let operation = op(
        "post_sandbox_api_contacts_phone_release",
        "sandbox",
        "End a sandbox customer's handoff to a person",
        &on_this_machine(
            "As `POST /api/conversations/{id}/release` does, then waits up to 5 s for the bot \
             to have the conversation back. The body is not read.",
            true,
        ),
        vec![phone(), sender_query()],
        local(true, responses),
    );
    with_body(operation, unread_body())
}

pub(super) fn get_trace() -> Value {
    let id = path_param(
        "id",
        t("integer"),
        "The event's id (`event_id` in the conversation, or in the answer of \
         `POST /sandbox/api/messages`)",
    );
    let responses = json!({
        "200": json_answer("The trace", traced_event()),
        "404": not_found("No trace: the id is not a whole number, not a sandbox event, not processed yet, or older than the last 1,000 events"),
    });
    op(
        "get_sandbox_api_events_id_trace",
        "sandbox",
        "The trace of one sandbox event",
        &on_this_machine(
            "Every trigger and why it matched or not, the steps that ran, variables before and \
             after, the window, sends, timers, errors and language-model exchanges. The last \
             1,000 sandbox events are kept, in memory.",
            false,
        ),
        vec![id],
        local(false, responses),
    )
}

pub(super) fn get_flows() -> Value {
    let trigger = json!({
        "line": t("integer"),
        "trigger": described("string", "As written, like `keyword [hi, hello]`"),
    });
    let flow = json!({
        "id": t("string"), "file": t("string"), "description": nullable("string"),
        "priority": t("integer"), "steps": described("integer", "The entries of `steps:`"),
        "schedule": { "type": ["string", "null"], "description": "The cron text of a scheduled flow" },
        "triggers": list(obj("line trigger", trigger)),
        "languages": customers::languages(), "experiments": customers::experiments(),
    });
    let problem = json!({
        "file": t("string"), "line": t("integer"), "column": t("integer"),
        "severity": { "enum": ["error", "warning"] }, "message": t("string"),
        "hint": nullable("string"),
    });
    let problem = obj("file line column severity message hint", problem);
    let flows = json!({
        "flows": list(obj("id file description priority steps schedule triggers languages experiments", flow)),
        "problems": list(obj("problem text", json!({ "problem": problem, "text": t("string") }))),
        "stale": described("boolean", "The files have errors: the flows listed are the earlier ones, still running"),
        "loaded_at": time_or_null(),
    });
    let ok = obj("flows problems stale loaded_at", flows);
    op(
        "get_sandbox_api_flows",
        "sandbox",
        "The flows running and the problems of the last load",
        &on_this_machine(
            "The flows, their triggers, and the problems of the last load (a broken edit keeps \
             the previous flows running).",
            false,
        ),
        vec![],
        local(false, json!({ "200": json_answer("The flows", ok) })),
    )
}

pub(super) fn post_explain() -> Value {
    let responses = message_refusals(json!({
        "200": json_answer("Every trigger's verdict in precedence order, the winner, or the nearest miss", explanation()),
        "413": too_large("64 KiB"),
        "503": unavailable(false),
    }));
    let operation = op(
        "post_sandbox_api_explain",
        "sandbox",
        "How the triggers judge a message, without sending it",
        &on_this_machine(
            "Nothing is stored or sent; with `from`, the customer's conversation decides \
             `waiting` and `new_contact`.",
            true,
        ),
        vec![],
        local(true, responses),
    );
    let about = "A customer message, as for `POST /sandbox/api/messages` (`media.data` is not \
        stored)";
    with_body(operation, json_body(true, about, customer_message(true)))
}

fn clock() -> Value {
    let manual = "`sandbox.manual_clock` is on: the clock moves only when told";
    let clock = json!({ "now": time(), "manual": described("boolean", manual) });
    obj("now manual", clock)
}

pub(super) fn get_clock() -> Value {
    op(
        "get_sandbox_api_clock",
        "sandbox",
        "The sandbox's time",
        &on_this_machine(
            "The clock's time, and whether it is the manual clock.",
            false,
        ),
        vec![],
        local(false, json!({ "200": json_answer("The time", clock()) })),
    )
}

pub(super) fn post_clock() -> Value {
    let change = json!({
        "type": "object", "additionalProperties": false,
        "oneOf": [{ "required": ["advance"] }, { "required": ["set"] }],
        "properties": {
            "advance": described("string", "A duration like `2h` or `23h 30m`"),
            "set": { "type": "string", "format": "date-time", "description": "RFC 3339; not before the clock's time, nor more than 10 years after it" },
        },
    });
    let stops = "Timers the clock stopped at on the way (at most 1,000), each handled before it \
        moved on";
    let mut moved = clock();
    moved["properties"]["timer_stops"] = described("integer", stops);
    moved["required"] = json!(["now", "manual", "timer_stops"]);
    let responses = json!({
        "200": json_answer("The clock's new time", moved),
        "400": bad_request("Not `advance` or `set` alone, an unknown field, a duration or time that does not read, a time before the clock's or more than 10 years after it"),
        "409": sandbox_error("The clock is the system clock (`sandbox.manual_clock` is off); checked before the body is parsed", &["conflict"]),
        "413": too_large("64 KiB"),
        "503": unavailable(false),
    });
    let operation = op(
        "post_sandbox_api_clock",
        "sandbox",
        "Move the manual clock forward",
        &on_this_machine(
            "Only with `sandbox.manual_clock`; only forward. Stops at every timer due on the way \
             (a `delay`, an `ask`'s timeout, a `window_closing` reminder) and lets the bot \
             handle it, 5 s at most in all.",
            true,
        ),
        vec![],
        local(true, responses),
    );
    with_body(
        operation,
        json_body(true, "Either `advance` or `set`", change),
    )
}

pub(super) fn get_media() -> Value {
    let sha = path_param(
        "sha256",
        json!({ "type": "string", "pattern": "^[0-9a-f]{64}$" }),
        "The file's SHA-256 (`media.url` of an inbound message in the conversation)",
    );
    let mut file = answer(
        "The file as the bot keeps it, in its own type (`Content-Disposition: inline` for \
         images, audio and video, `attachment` otherwise)",
        "*/*",
        json!({ "type": "string", "format": "binary" }),
    );
    file["headers"] = json!({
        "Content-Disposition": { "schema": { "enum": ["inline", "attachment"] } },
    });
    let responses = json!({
        "200": file,
        "404": not_found("No sandbox media file has this SHA-256 (or it is not one)"),
        "503": unavailable(true),
    });
    op(
        "get_sandbox_api_media_sha256",
        "sandbox",
        "A file a sandbox customer sent",
        &on_this_machine(
            "Only files of sandbox senders' messages (`GET /api/media/{sha256}`, with an API \
             key, serves the others).",
            false,
        ),
        vec![sha],
        local(false, responses),
    )
}

// The shapes the sandbox answers with.

/// What became of an injected message (`crate::sandbox::inject::Injected`).
fn injected() -> Value {
    let injected = json!({
        "sender_id": t("integer"),
        "provider_message_id": described("string", "`id`, or `sandbox.in.<uuid>`"),
        "event_id": { "type": ["integer", "null"], "description": "The stored event, for its trace; null for a duplicate" },
        "conversation_id": nullable("integer"),
        "duplicate": described("boolean", "The id was stored before: nothing new"),
    });
    let required = "sender_id provider_message_id event_id conversation_id duplicate";
    obj(required, injected)
}

/// A message the bot sent (`crate::sandbox::view::SentMessage`).
fn sent_message() -> Value {
    let sent = json!({
        "id": t("integer"), "at": time(),
        "kind": described("string", "text, buttons, list, image, template…"),
        "summary": described("string", "The message in one line"),
        "content": described("object", "The message as queued, tagged by `kind`"),
        "status": { "enum": ["queued", "accepted", "sent", "delivered", "read", "failed", "skipped"] },
        "error_code": nullable("integer"), "error_title": nullable("string"),
        "window_closed": t("boolean"),
        "origin": { "enum": ["flow", "api", "fallback", "echo", "broadcast"] },
    });
    let required = "id at kind summary content status error_code error_title window_closed origin";
    obj(required, sent)
}

/// A customer's file as the bot keeps it (`crate::http::api::inbound_media::describe`).
fn inbound_media() -> Value {
    let media = json!({
        "message_id": t("integer"), "provider_message_id": t("string"),
        "conversation_id": t("integer"), "kind": t("string"),
        "status": { "enum": ["queued", "stored", "failed"] }, "attempts": t("integer"),
        "error": nullable("string"), "sha256": nullable("string"),
        "content_type": nullable("string"), "size_bytes": nullable("integer"),
        "received_at": time(), "stored_at": time_or_null(),
        "url": { "type": ["string", "null"], "description": "`/sandbox/api/media/{sha256}` once stored" },
    });
    obj("message_id kind status url", media)
}

fn inbound_line() -> Value {
    let line = json!({
        "direction": { "const": "in" }, "event_id": t("integer"), "at": time(),
        "kind": described("string", "text, image, location, button_reply…"),
        "summary": described("string", "The text, or the kind"),
        "content": described("object", "The message as Parley read it, tagged by `kind`"),
        "media": or_null(inbound_media()),
        "traced": described("boolean", "`GET /sandbox/api/events/{event_id}/trace` has its trace"),
    });
    let required = "direction event_id at kind summary content media traced";
    obj(required, line)
}

fn system_line() -> Value {
    let line = json!({
        "direction": { "const": "system" }, "kind": { "const": "handoff" }, "at": time(),
        "current": described("boolean", "The handoff in force now (the page offers to release it)"),
    });
    let line = obj("direction kind at current", line);
    json!({ "allOf": [line, handoff_change()] })
}

fn handoff() -> Value {
    let handoff = json!({ "since": time(), "until": time_or_null(), "flow": t("string") });
    obj("since until flow", handoff)
}

/// A handoff beginning or ending (`crate::sandbox::traces::HandoffChange`).
fn handoff_change() -> Value {
    let began = json!({
        "change": { "const": "began" }, "since": time(), "until": time_or_null(),
        "flow": t("string"),
    });
    let released = json!({
        "change": { "const": "released" },
        "by": { "type": ["string", "null"], "description": "`api` or `sandbox`" },
    });
    let timed_out = json!({ "change": { "const": "timed_out" } });
    json!({ "oneOf": [
        obj("change since until flow", began),
        obj("change by", released),
        obj("change", timed_out)
    ] })
}

fn window() -> Value {
    let window = json!({
        "is_open": t("boolean"), "expires_at": time_or_null(),
        "minutes_remaining": described("integer", "Whole minutes left; 0 when closed"),
        "last_inbound_at": time_or_null(),
    });
    obj(
        "is_open expires_at minutes_remaining last_inbound_at",
        window,
    )
}

/// `crate::sandbox::view::ContactView`.
fn contact_view() -> Value {
    let contact = json!({
        "phone": t("string"), "sender_id": t("integer"), "conversation_id": t("integer"),
        "name": nullable("string"), "tags": list(t("string")), "attributes": t("object"),
        "window": window(),
        "run": { "type": ["string", "null"], "description": "Like `flow welcome, step 2 (line 17), waiting for an answer`; null when idle" },
        "vars": described("object", "The variables of the run in progress, or of the last run"),
        "handed_off": t("boolean"),
    });
    let required =
        "phone sender_id conversation_id name tags attributes window run vars handed_off";
    obj(required, contact)
}

/// `crate::sandbox::traces::TracedEvent` (`handoff` only when the event changed it).
fn traced_event() -> Value {
    let traced = json!({
        "event_id": t("integer"), "conversation_id": t("integer"), "sender_id": t("integer"),
        "contact": described("string", "The customer, like `+34600000001`"), "at": time(),
        "trace": trace(), "handoff": handoff_change(),
    });
    let required = "event_id conversation_id sender_id contact at trace";
    obj(required, traced)
}

/// `crate::engine::trace::Trace`.
fn trace() -> Value {
    let strings = list(t("string"));
    let step = json!({
        "flow": t("string"), "file": t("string"),
        "step": described("integer", "Its number in `steps:`, or that of the step it is written in"),
        "nested": t("boolean"), "line": t("integer"), "id": nullable("string"),
        "op": described("string", "send, ask, if…"),
    });
    let send = json!({
        "kind": t("string"), "summary": t("string"),
        "if_window_closed": described("string", "`fail`, `skip` or `template <name>`"),
    });
    let trace = json!({
        "event": described("string", "What came in: `text \"hi\"`, `timer ask_timeout`…"),
        "triggers": or_null(explanation()), "decisions": strings, "window": or_null(window()),
        "run_before": nullable("string"), "run_after": nullable("string"),
        "vars_before": t("object"), "vars_after": t("object"),
        "steps": list(obj("flow file step nested line id op", step)),
        "sends": list(obj("kind summary if_window_closed", send)),
        "timers": strings, "errors": strings, "tags_added": strings, "tags_removed": strings,
        "exchanges": {
            "type": "array", "items": exchange(),
            "description": "Each language-model call of an `agent` step; absent when none",
        },
    });
    let required = "event triggers decisions window run_before run_after vars_before \
        vars_after steps sends timers errors tags_added tags_removed";
    obj(required, trace)
}

/// `crate::engine::trace::TraceExchange`.
fn exchange() -> Value {
    let strings = list(t("string"));
    let exchange = json!({
        "model": t("string"), "system": described("string", "The system prompt as sent"),
        "messages": strings, "passages": strings, "answer": t("string"), "tool_calls": strings,
        "outcome": described("string", "`sent`, `refused: why`, or the error"),
        "input_tokens": t("integer"), "output_tokens": t("integer"),
        "cost": described("number", "US dollars"), "latency_ms": t("integer"),
        "replayed": t("boolean"),
    });
    let required = "model system messages passages answer tool_calls outcome";
    obj(required, exchange)
}

/// `crate::flows::triggers::explain::Explanation`.
fn explanation() -> Value {
    let verdict = json!({
        "flow": t("string"), "file": t("string"), "line": t("integer"), "column": t("integer"),
        "priority": t("integer"), "kind": t("string"), "trigger": t("string"),
        "compared": t("string"), "matched": t("boolean"),
        "counted": described("boolean", "Matched, and allowed to start its flow now"),
        "why": t("string"), "winner": t("boolean"),
    });
    let verdict_required =
        "flow file line column priority kind trigger compared matched counted why winner";
    let nearest = json!({
        "flow": t("string"), "file": t("string"), "line": t("integer"), "trigger": t("string"),
        "why": t("string"),
    });
    let explanation = json!({
        "normalized": described("string", "The text after folding case, accents and punctuation"),
        "waiting": t("boolean"), "verdicts": list(obj(verdict_required, verdict)),
        "winner": nullable("string"),
        "nearest": or_null(obj("flow file line trigger why", nearest)),
        "outcome": described("string", "What happens to the message, in one sentence"),
    });
    let required = "normalized waiting verdicts winner nearest outcome";
    obj(required, explanation)
}
