//! The sandbox API, `/sandbox/api/…`: inject customer messages into sandbox senders, read
//! the conversation (what the bot sent, where a handoff to a person began and ended),
//! release a handoff, pick a new customer's number and choose a customer's language and
//! forced experiment arms (`customers.rs`), the trace of an event, the flows with
//! their problems, trigger explanations and the manual clock. No API key: it is served only when a sender has
//! `channel: sandbox` and `sandbox.enabled` is true, it only reaches the conversations of
//! sandbox senders, it accepts JSON bodies only (415 otherwise: no cross-site form post),
//! and the config refuses to serve it on a non-loopback `listen` without
//! `sandbox.expose: true`. Unless exposed, it (and the Insights page) answers only requests
//! addressed to a loopback name (`Host`) and posted from a loopback page (`Origin`): a page
//! on a name that rebinds to 127.0.0.1 would otherwise be same-origin with it. The pages
//! may not be framed. Database errors are logged, never sent.

mod customers;

use super::error::{Error, PathParam, WithBodyLimit, NOT_STORED};
use super::state::AppState;
use crate::domain::PhoneNumber;
use crate::flows::triggers::explain::describe;
use crate::flows::MatchInput;
use crate::sandbox::choices;
use crate::sandbox::inject::{inject, CustomerMessage, InjectError};
use crate::sandbox::view;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long `POST /sandbox/api/messages` waits for the bot's answer, and
/// `POST /sandbox/api/contacts/{phone}/release` for the bot to take the conversation back.
const REPLY_WAIT: Duration = Duration::from_secs(5);

/// Larger bodies are refused with 413 (a message's text is at most 4,096 characters).
const BODY_BYTES: usize = 64 * 1024;
/// `POST /sandbox/api/messages`, whose attached file comes as base64 in the body.
const MESSAGE_BODY_BYTES: usize = 2 * 1024 * 1024;

pub fn router(state: &AppState) -> Router<AppState> {
    if !state.sandbox.serves_http() {
        return Router::new();
    }
    Router::new()
        .route("/sandbox", get(page))
        .route(
            "/sandbox/api/messages",
            post(post_message).with_body_limit(MESSAGE_BODY_BYTES),
        )
        .route("/sandbox/api/contacts/{phone}", get(get_contact))
        .route("/sandbox/api/contacts/{phone}/messages", get(get_messages))
        .route("/sandbox/api/contacts/{phone}/release", post(post_release))
        .route("/sandbox/api/customers", post(customers::post_customer))
        .route("/sandbox/api/events/{id}/trace", get(get_trace))
        .route("/sandbox/api/flows", get(get_flows))
        .route("/sandbox/api/explain", post(post_explain))
        .route("/sandbox/api/clock", get(get_clock).post(post_clock))
        .route("/sandbox/api/media/{sha256}", get(get_media))
        .route_layer(axum::middleware::from_fn(json_only))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::local_pages::loopback_only,
        ))
        .with_body_limit(BODY_BYTES)
        .layer(axum::middleware::from_fn(super::error::render_errors))
}

/// Requests with a body must declare it JSON. A web page can send `text/plain`, form and
/// multipart bodies to any address without asking (no CORS preflight); `application/json`
/// needs a preflight, which Parley never grants, so no page open in an operator's browser
/// can post into the sandbox.
async fn json_only(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let safe = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    if safe || is_json(request.headers()) {
        return next.run(request).await;
    }
    Error::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
        "the sandbox API takes a POST, PUT or DELETE only with Content-Type: application/json, \
         even one without a body (a web page cannot send that header to another site without \
         asking, so none can act on the sandbox)",
    )
    .into_response()
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

impl From<InjectError> for Error {
    fn from(e: InjectError) -> Self {
        match &e {
            InjectError::Invalid(m) => Error::bad_request(m.clone()),
            InjectError::TooLong { field, .. } => Error::field(field, e.to_string()),
            InjectError::Store(detail) => {
                crate::metrics::logs::log_every!(error, detail = %detail, "sandbox message not stored");
                Error::unavailable(NOT_STORED)
            }
        }
    }
}

type ApiResult = Result<Json<Value>, Error>;

async fn page() -> Response {
    super::local_pages::page_response(include_str!("sandbox/page.html"))
}

#[derive(Deserialize)]
struct WaitQuery {
    /// Wait for the bot's replies (default true).
    wait: Option<bool>,
    /// How long to wait for them, 1–120 s (default [`REPLY_WAIT`]): a slow model takes longer.
    wait_seconds: Option<u64>,
}

/// The longest `?wait_seconds=`.
const REPLY_WAIT_MAX: u64 = 120;

/// `POST /sandbox/api/messages`: a customer writes. Answers with the stored event and,
/// unless `?wait=false`, the bot's replies and the event's trace; `pending: true` when the
/// bot had not finished with the message within the wait (its replies come later).
async fn post_message(
    State(st): State<AppState>,
    Query(q): Query<WaitQuery>,
    body: axum::body::Bytes,
) -> ApiResult {
    let reply_wait = match q.wait_seconds {
        None => REPLY_WAIT,
        Some(n @ 1..=REPLY_WAIT_MAX) => Duration::from_secs(n),
        Some(n) => {
            return Err(Error::bad_request(format!(
                "wait_seconds={n}: wait between 1 and {REPLY_WAIT_MAX} seconds"
            )))
        }
    };
    let msg: CustomerMessage = serde_json::from_slice(&body)
        .map_err(|e| Error::bad_request(format!("invalid message: {e}")))?;
    let phone = parse_phone(&st, &msg.from)?;
    let before = view::sent_to(&st.store, sender_of(&st, msg.sender_id)?, &phone, None)
        .await?
        .last()
        .map(|m| m.id);
    // A stopped clock would give every message of the chat the same time; a microsecond
    // per customer message keeps them, and the replies each one gets, in order.
    if let Some(clock) = &st.sandbox.manual_clock {
        clock.advance(chrono::Duration::microseconds(1));
    }
    let injected = inject(
        &st.sandbox,
        &st.ingestor,
        &st.store,
        st.clock.as_ref(),
        &msg,
    )
    .await?;
    let mut answer = json!({ "message": injected });
    if q.wait.unwrap_or(true) {
        if let Some(event_id) = injected.event_id {
            let started = Instant::now();
            while st.sandbox.traces.get(event_id).is_none() && started.elapsed() < reply_wait {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // The trace is kept before the step's commit lands: wait for as many messages
            // as the step sent (under load, an empty list was taken for "no replies").
            let expected = st
                .sandbox
                .traces
                .get(event_id)
                .map_or(0, |t| t.trace.sends.len());
            let replies = loop {
                let sent = view::sent_to(&st.store, injected.sender_id, &phone, before).await?;
                let settled = sent.len() >= expected && sent.iter().all(|m| m.status != "queued");
                if settled || started.elapsed() >= reply_wait {
                    break sent;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            let trace = st.sandbox.traces.get(event_id);
            answer["pending"] = json!(trace.is_none());
            answer["replies"] = json!(replies);
            answer["trace"] = json!(trace);
        }
    }
    Ok(Json(answer))
}

#[derive(Deserialize)]
struct SenderQuery {
    sender_id: Option<i64>,
}

async fn get_contact(
    State(st): State<AppState>,
    PathParam(phone): PathParam,
    Query(q): Query<SenderQuery>,
) -> ApiResult {
    let phone = parse_phone(&st, &phone)?;
    let sender = sender_of(&st, q.sender_id)?;
    let contact = view::contact(
        &st.store,
        &st.sandbox,
        &st.engine,
        st.config.window.policy(),
        st.clock.now(),
        sender,
        &phone,
    )
    .await?
    .ok_or_else(|| Error::not_found(format!("{phone} has not written to sender {sender}")))?;
    Ok(Json(json!(contact)))
}

/// `GET /sandbox/api/contacts/{phone}/messages`: the conversation, both ways, oldest first,
/// with a `system` line where a handoff to a person began or ended, and the handoff in force.
async fn get_messages(
    State(st): State<AppState>,
    PathParam(phone): PathParam,
    Query(q): Query<SenderQuery>,
) -> ApiResult {
    let phone = parse_phone(&st, &phone)?;
    let sender = sender_of(&st, q.sender_id)?;
    // "typing…" while a `typing: true` flow's slow step runs for this customer.
    let typing = crate::domain::ContactRef::from_key(&phone)
        .is_some_and(|to| st.senders.sandbox.is_typing(&to));
    let Some(conv) = st.store.find_conversation(sender, &phone).await? else {
        // The same keys as for a customer who wrote: no conversation, no handoff yet.
        return Ok(Json(json!({
            "phone": phone,
            "conversation_id": null,
            "handoff": null,
            "messages": [],
            "typing": typing,
        })));
    };
    // Each line with where it goes: its time, in, out or system, its id.
    type Place = (chrono::DateTime<chrono::Utc>, u8, i64);
    let mut items: Vec<(Place, Value)> = Vec::new();
    for e in st.store.conversation_inbound(conv.id, None, 200).await? {
        if let crate::domain::EventKind::Message(m) = &e.kind {
            // The customer's file as the bot keeps it, served by `get_media`.
            let media = match &m.content {
                crate::domain::InboundContent::Media { .. } => {
                    st.store.event_media(e.id).await?.map(|r| {
                        let mut v = super::api::inbound_media::describe(&r);
                        if let Some(sha256) = r.sha256.as_ref().filter(|_| v["url"].is_string()) {
                            v["url"] = json!(format!("/sandbox/api/media/{sha256}"));
                        }
                        v
                    })
                }
                _ => None,
            };
            items.push((
                (e.received_at, 0, e.id),
                json!({
                    "direction": "in",
                    "event_id": e.id,
                    "at": e.received_at,
                    "kind": m.content.kind_name(),
                    "summary": m.content.text().unwrap_or(m.content.kind_name()),
                    "content": m.content,
                    "media": media,
                    "traced": st.sandbox.traces.get(e.id).is_some(),
                }),
            ));
        }
    }
    for m in view::sent_to(&st.store, sender, &phone, None).await? {
        let mut v = json!(m);
        v["direction"] = json!("out");
        items.push(((m.at, 1, m.id), v));
    }
    for line in view::handoff_lines(&st.sandbox, &conv) {
        let mut v = json!(line);
        v["direction"] = json!("system");
        v["kind"] = json!("handoff");
        // After the bot's messages of the same moment (the handoff step's own message).
        items.push(((line.at, 2, 0), v));
    }
    // By time; at one time (a stopped sandbox clock) the customer's message, then the
    // bot's, each in the order they were stored.
    items.sort_by_key(|a| a.0);
    let messages: Vec<Value> = items.into_iter().map(|(_, v)| v).collect();
    Ok(Json(json!({
        "phone": phone,
        "conversation_id": conv.id,
        "handoff": conv.state.handoff,
        "messages": messages,
        "typing": typing,
    })))
}

/// `GET /sandbox/api/media/{sha256}`: a file a sandbox customer sent, as the bot keeps it
/// (only files of sandbox senders' messages: the sandbox has no API key).
async fn get_media(
    State(st): State<AppState>,
    PathParam(sha256): PathParam,
) -> Result<Response, Error> {
    let missing = || Error::not_found(format!("no sandbox media file {sha256}"));
    if !crate::store::files::is_sha256_name(&sha256) {
        return Err(missing());
    }
    let record = st
        .store
        .stored_media(&sha256)
        .await?
        .filter(|r| st.sandbox.is_sandbox_sender(r.sender_id))
        .ok_or_else(missing)?;
    let (file, len) = st
        .media_files
        .open(&sha256)
        .await
        .map_err(|e| {
            tracing::error!(%sha256, error = %e, "a stored media file could not be read");
            Error::unavailable("the media file could not be read, please retry")
        })?
        .ok_or_else(missing)?;
    Ok(super::api::inbound_media::serve(file, len, &record))
}

/// `POST /sandbox/api/contacts/{phone}/release`: ends the customer's handoff to a person,
/// as `POST /api/conversations/{id}/release` does, and waits (up to `REPLY_WAIT`) until
/// the bot has the conversation back. 409 `not_in_handoff` when there is none.
async fn post_release(
    State(st): State<AppState>,
    PathParam(phone): PathParam,
    Query(q): Query<SenderQuery>,
) -> ApiResult {
    let phone = parse_phone(&st, &phone)?;
    let sender = sender_of(&st, q.sender_id)?;
    let conv = st
        .store
        .find_conversation(sender, &phone)
        .await?
        .ok_or_else(|| Error::not_found(format!("{phone} has not written to sender {sender}")))?;
    let handoff = super::api::queue_release(&st, &conv, "sandbox").await?;
    let started = Instant::now();
    let released = loop {
        let done = st
            .store
            .conversation(conv.id)
            .await?
            .is_none_or(|c| c.state.handoff.is_none_or(|h| h.since != handoff.since));
        if done || started.elapsed() >= REPLY_WAIT {
            break done;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    Ok(Json(json!({
        "phone": phone,
        "conversation_id": conv.id,
        "handoff_since": handoff.since,
        "released": released,
    })))
}

async fn get_trace(State(st): State<AppState>, PathParam(raw): PathParam) -> ApiResult {
    let Some(id) = raw.parse::<i64>().ok() else {
        return Err(Error::not_found(format!(
            "no trace for event `{}`: an event id is a whole number (`event_id` in the conversation)",
            raw.chars().take(40).collect::<String>()
        )));
    };
    let traced = st.sandbox.traces.get(id).ok_or_else(|| {
        Error::not_found(format!(
            "no trace for event {id}: it is not a sandbox event, not processed yet, or older than the last {} events",
            crate::sandbox::traces::TRACE_LOG_LIMIT
        ))
    })?;
    Ok(Json(json!(traced)))
}

/// `GET /sandbox/api/flows`: the flows running, their triggers, the languages they speak
/// and their experiments with their arms (what `POST /sandbox/api/customers` may choose),
/// and the problems of the last load (a broken edit keeps the previous flows running).
async fn get_flows(State(st): State<AppState>) -> ApiResult {
    let flows = st.engine.flows();
    let list: Vec<Value> = flows
        .flows()
        .iter()
        .map(|f| {
            json!({
                "id": f.id,
                "file": f.file,
                "description": f.description,
                "priority": f.priority,
                "steps": f.written_steps(),
                "schedule": f.schedule.as_ref().map(|s| s.cron_text.clone()),
                "triggers": f.triggers.iter().map(|t| json!({
                    "line": t.at.line,
                    "trigger": describe(t),
                })).collect::<Vec<_>>(),
                "languages": choices::languages(f),
                "experiments": choices::experiments(&flows, f),
            })
        })
        .collect();
    let status = st
        .flow_status
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let problems: Vec<Value> = status
        .problems
        .iter()
        .map(|p| json!({ "problem": p, "text": p.to_string() }))
        .collect();
    Ok(Json(json!({
        "flows": list,
        "problems": problems,
        "stale": status.stale,
        "loaded_at": status.loaded_at,
    })))
}

/// `POST /sandbox/api/explain`: how the triggers judge a message, without sending it.
/// With `from`, the contact's conversation decides `waiting` and `new_contact`.
async fn post_explain(State(st): State<AppState>, body: axum::body::Bytes) -> ApiResult {
    let mut msg: CustomerMessage = serde_json::from_slice(&body)
        .map_err(|e| Error::bad_request(format!("invalid message: {e}")))?;
    if msg.from.is_empty() {
        msg.from = "+10000000000".into();
    }
    let phone = parse_phone(&st, &msg.from)?;
    let content = msg.content().map_err(Error::from)?;
    let sender = sender_of(&st, msg.sender_id)?;
    let conv = st.store.find_conversation(sender, &phone).await?;
    let state = conv.map(|c| c.state).unwrap_or_default();
    let waiting = matches!(
        state.run.as_ref().and_then(|r| r.wait.as_ref()),
        Some(crate::domain::Wait::Answer { .. } | crate::domain::Wait::Form { .. })
    );
    let explanation = st.engine.flows().explain(&MatchInput {
        content: &content,
        referral: None,
        new_contact: state.messages_seen == 0,
        waiting,
    });
    Ok(Json(json!(explanation)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockChange {
    /// `1h`, `23h 30m`.
    advance: Option<String>,
    /// RFC 3339.
    set: Option<String>,
}

async fn get_clock(State(st): State<AppState>) -> ApiResult {
    Ok(Json(json!({
        "now": st.clock.now(),
        "manual": st.sandbox.manual_clock.is_some(),
    })))
}

/// `POST /sandbox/api/clock`: moves the manual clock (only with `sandbox.manual_clock`).
async fn post_clock(State(st): State<AppState>, body: axum::body::Bytes) -> ApiResult {
    let Some(clock) = &st.sandbox.manual_clock else {
        return Err(Error::conflict(
            "the clock is the system clock; set `sandbox: { manual_clock: true }` to move it",
        ));
    };
    let change: ClockChange = serde_json::from_slice(&body)
        .map_err(|e| Error::bad_request(format!("invalid clock change: {e}")))?;
    let target = match (change.advance, change.set) {
        (Some(by), None) => {
            let d = crate::config::duration::parse(&by)
                .map_err(|e| Error::bad_request(format!("advance: {}", e.describe(&by))))?;
            let now = st.clock.now();
            now.checked_add_signed(chrono::Duration::from_std(d).unwrap_or_default())
                .unwrap_or(now)
        }
        (None, Some(at)) => {
            let to = chrono::DateTime::parse_from_rfc3339(&at)
                .map_err(|e| Error::bad_request(format!("set: `{at}`: {e}")))?
                .with_timezone(&chrono::Utc);
            // As far as `advance` goes: past it, schedules compute fires in the year
            // 10000 and windows run for centuries. Never back: a window would then have
            // opened in the future and last for years.
            let now = st.clock.now();
            if to < now {
                return Err(Error::bad_request(format!(
                    "set: `{at}` is before the clock's time ({}); the clock only moves forward",
                    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )));
            }
            if to - now > chrono::Duration::days(3_653) {
                return Err(Error::bad_request(format!(
                    "set: `{at}` is more than 10 years from the clock's time ({}); choose a time nearer",
                    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )));
            }
            to
        }
        _ => {
            return Err(Error::bad_request(
                "give either `advance` (like \"1h\") or `set` (RFC 3339)",
            ))
        }
    };
    let stops = step_clock(&st, clock, target).await?;
    Ok(Json(
        json!({ "now": st.clock.now(), "manual": true, "timer_stops": stops }),
    ))
}

/// Timer stops one clock change makes at most; past them the clock goes straight on.
const CLOCK_STOPS_MAX: usize = 1_000;

/// Moves the manual clock to `target`, stopping at every timer due on the way (a `delay`,
/// an `ask`'s timeout, a `window_closing` reminder) so that each fires at its own time and
/// the bot has handled it before the clock moves on, as `parley test`'s `advance` does: a
/// reminder due at 23h goes out at 23h, inside the window, not when a +30h jump lands.
/// Returns the number of stops.
async fn step_clock(
    st: &AppState,
    clock: &crate::domain::ManualClock,
    target: chrono::DateTime<chrono::Utc>,
) -> Result<usize, Error> {
    // The bot is waited for at most `REPLY_WAIT` in all: a send waiting for its retry
    // time keeps it busy until the clock passes that time.
    let deadline = Instant::now() + REPLY_WAIT;
    let mut stops = 0;
    while stops < CLOCK_STOPS_MAX {
        let now = st.clock.now();
        let Some(due) = st
            .store
            .next_timer_due()
            .await?
            .map(|d| d.max(now))
            .filter(|d| *d < target)
        else {
            break;
        };
        clock.set(due);
        stops += 1;
        if st.store.fire_due_timers(due, 1000).await? > 0 {
            st.wake.inbox.notify_one();
        }
        st.sandbox.settle(&st.store, &st.wake, deadline).await?;
    }
    clock.set(target);
    Ok(stops)
}

/// The contact key of the sandbox customer typed as `raw` (a BSUID key when the sandbox
/// withholds phones).
fn parse_phone(st: &AppState, raw: &str) -> Result<String, Error> {
    PhoneNumber::parse(raw)
        .map(|p| st.sandbox.customer(p).key())
        .map_err(|e| Error::bad_request(format!("`{raw}` is not a phone number: {e}")))
}

fn sender_of(st: &AppState, requested: Option<i64>) -> Result<i64, Error> {
    match requested {
        Some(id) if st.sandbox.is_sandbox_sender(id) => Ok(id),
        Some(id) => Err(Error::bad_request(format!(
            "sender {id} is not a sandbox sender (channel: sandbox)"
        ))),
        None => st
            .sandbox
            .sender_ids
            .first()
            .copied()
            .ok_or_else(|| Error::not_found("there is no sandbox sender")),
    }
}

#[cfg(test)]
mod tests {
    /// A database that refuses writes refuses every sandbox message: one log line per 30 s.
    #[test]
    fn sandbox_messages_not_stored_are_logged_once() {
        let text = crate::metrics::logs::logs_of(|| {
            for _ in 0..50 {
                let _ = super::Error::from(super::InjectError::Store(
                    "database or disk is full".into(),
                ));
            }
        });
        assert_eq!(
            text.matches("sandbox message not stored").count(),
            1,
            "{text}"
        );
    }
}
