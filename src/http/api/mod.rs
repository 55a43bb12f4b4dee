//! The public HTTP API, one folder per surface it serves:
//!
//! - `user_whatsapp/`: the hosted platforms' send API under `/api/user/whatsapp/…`
//!   (`send.rs`: `send-freeform` and `send`; `status.rs`: `session-status`, `senders`,
//!   `templates`);
//! - `messages_v1/`: `POST /api/v1/messages/send-message` (`send_message.rs`, its buttons in
//!   `buttons.rs`);
//! - `conversations/`: `/api/conversations…` (`read.rs`: the listing and a conversation's
//!   messages; `write.rs`: sending into a conversation and releasing a handoff);
//! - `health.rs`: `POST /api/senders/{id}/health`; `flows.rs`: `GET /api/flows`;
//!   `flow_saves.rs`: `GET /api/flows/saves` (the studio's saves, for audit);
//!   `contacts.rs`: `POST /api/contacts/import`, `GET /api/contacts/export`;
//!   `inbound_media.rs`: `GET /api/media/{sha256}` and `GET /api/messages/{id}/media`;
//!   `/api/inbox/…` (the inbox page's calls) is served by `crate::http::inbox`;
//!   `GET /api/insights/…` is served by `crate::http::insights`, shared with its page;
//!   `events.rs`: `GET /api/events/deliveries`, `GET /api/events/{event_id}`, `POST /api/events/replay`;
//!   `openapi.rs`: `GET /api/openapi.json`; `audit.rs`: `GET /api/audit` (and what the edge
//!   records with);
//!
//! and what they share: `auth.rs` (API keys, rate limits, the audit of changes), `scopes.rs`
//! (the scope each route needs), `body.rs` (reading bodies field by
//! field), `media.rs` (media URL checks), `session.rs` (the window as the hosted platforms
//! phrase it) and `outbox.rs` (sender checks, spend limit, queueing).
//!
//! `ROUTES` is the single list of endpoints: the router is built from it and a test keeps
//! `/api/openapi.json` equal to it. Every route but the document needs a Bearer API key and
//! is rate limited per key (`auth.rs`). Every answer is JSON, errors included: errors and
//! axum's own plain-text rejections (413, 405) and unknown paths are written in the family's
//! error shape (`crate::http::error`). Sends go through the same outbox, window rule and
//! statuses as flow sends: success means accepted by Parley, delivery follows from status
//! webhooks.

pub(super) mod audit;
/// Also the studio's: an exposed studio takes the keys of `studio.editors`.
pub(super) mod auth;
pub(super) mod body;
mod broadcasts;
pub(super) mod common;
mod contacts;
mod conversations;
mod costs;
mod events;
mod experiments;
mod flow_saves;
mod flows;
mod health;
pub(super) mod inbound_media;
mod knowledge;
pub(super) mod media;
mod messages_v1;
mod models;
mod openapi;
pub(super) mod outbox;
mod rollouts;
pub(super) mod scopes;
mod scores;
pub(super) mod session;
mod unanswered;
mod user_whatsapp;

pub(super) use conversations::queue_release;

use super::error::{self, Error, WithBodyLimit};
use super::state::AppState;
use axum::extract::{Request, State};
use axum::routing::{get, post, MethodRouter};
use axum::{middleware, Extension, Router};
use common::ApiContext;
use std::sync::Arc;

/// Larger request bodies are refused with 413 (in the family's JSON error shape).
const MAX_BODY_BYTES: usize = 64 * 1024;
/// `POST /api/broadcasts`: room for a list of 10,000 recipients.
const BROADCAST_BODY_BYTES: usize = 1024 * 1024;

/// One endpoint of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
}

/// Every endpoint, in the order the OpenAPI document lists them.
pub const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/api/user/whatsapp/send-freeform",
        summary: "Send a free-form text inside the 24-hour window",
    },
    Route {
        method: "POST",
        path: "/api/user/whatsapp/send",
        summary: "Send an approved template",
    },
    Route {
        method: "GET",
        path: "/api/user/whatsapp/session-status",
        summary: "Whether free-form messages may be sent to a recipient now",
    },
    Route {
        method: "GET",
        path: "/api/user/whatsapp/senders",
        summary: "Configured senders with their online status",
    },
    Route {
        method: "GET",
        path: "/api/user/whatsapp/templates",
        summary: "Configured templates with their status and placeholders",
    },
    Route {
        method: "POST",
        path: "/api/v1/messages/send-message",
        summary: "Send a free-form text, media or button message",
    },
    Route {
        method: "GET",
        path: "/api/conversations",
        summary: "Conversations, newest first, with window and handoff state",
    },
    Route {
        method: "GET",
        path: "/api/conversations/{conversation_id}/messages",
        summary: "A conversation's messages, newest first, with delivery statuses",
    },
    Route {
        method: "POST",
        path: "/api/conversations/{conversation_id}/messages",
        summary: "Send text, media or a location into a conversation",
    },
    Route {
        method: "POST",
        path: "/api/conversations/{conversation_id}/release",
        summary: "Hand a conversation back from a human agent to the bot",
    },
    Route {
        method: "GET",
        path: "/api/inbox/conversations",
        summary: "The inbox: conversations handed to a person, oldest waiting first",
    },
    Route {
        method: "GET",
        path: "/api/inbox/conversations/{conversation_id}",
        summary: "The inbox: a conversation in handoff with its history, window and usable templates",
    },
    Route {
        method: "POST",
        path: "/api/inbox/conversations/{conversation_id}/reply",
        summary: "The inbox: answer the customer with free text (window open) or a template",
    },
    Route {
        method: "POST",
        path: "/api/inbox/conversations/{conversation_id}/release",
        summary: "The inbox: give the conversation back to the bot",
    },
    Route {
        method: "POST",
        path: "/api/senders/{sender_id}/health",
        summary: "Run a sender's health check, optionally sending a test message",
    },
    Route {
        method: "GET",
        path: "/api/flows",
        summary: "Loaded flows and the problems of the last load",
    },
    Route {
        method: "GET",
        path: "/api/flows/saves",
        summary: "A project file's saves from the studio, newest first: who, when, versions, diff",
    },
    Route {
        method: "GET",
        path: "/api/media/{sha256}",
        summary: "A customer's media file kept by Parley, by its SHA-256",
    },
    Route {
        method: "GET",
        path: "/api/messages/{message_id}/media",
        summary: "What became of an inbound message's media (stored, queued or failed)",
    },
    Route {
        method: "GET",
        path: "/api/costs",
        summary: "What messages cost: predicted and billed, by flow, step, sender, day, category or broadcast",
    },
    Route {
        method: "GET",
        path: "/api/models/usage",
        summary: "Language-model calls, tokens and cost by model, flow or conversation",
    },
    Route {
        method: "GET",
        path: "/api/conversations/{conversation_id}/exchanges",
        summary: "A conversation's language-model exchanges, newest first",
    },
    Route {
        method: "POST",
        path: "/api/contacts/import",
        summary: "Import contacts from a CSV or JSON file (up to 64 MiB, 200,000 rows)",
    },
    Route {
        method: "GET",
        path: "/api/contacts/export",
        summary: "Every contact as CSV or JSON, in the shape an import reads",
    },
    Route {
        method: "POST",
        path: "/api/broadcasts",
        summary: "Send a template to an audience or a list, with variables from contact fields",
    },
    Route {
        method: "GET",
        path: "/api/broadcasts",
        summary: "Broadcasts, newest first",
    },
    Route {
        method: "GET",
        path: "/api/broadcasts/{broadcast_id}",
        summary: "A broadcast and its progress: queued, sent, delivered, read, failed, skipped",
    },
    Route {
        method: "POST",
        path: "/api/broadcasts/{broadcast_id}/pause",
        summary: "Pause a broadcast: no more of its sends are queued until it is resumed",
    },
    Route {
        method: "POST",
        path: "/api/broadcasts/{broadcast_id}/resume",
        summary: "Resume a paused broadcast",
    },
    Route {
        method: "POST",
        path: "/api/broadcasts/{broadcast_id}/cancel",
        summary: "Cancel a broadcast: its sends not yet made are dropped",
    },
    Route {
        method: "GET",
        path: "/api/insights/flows",
        summary: "Each flow's runs and outcomes over a period (since, until; format=csv)",
    },
    Route {
        method: "GET",
        path: "/api/insights/flows/{flow}",
        summary: "A flow's funnel: each step entered, answered, timed out, dropped, errored",
    },
    Route {
        method: "GET",
        path: "/api/insights/experiments",
        summary: "Experiments: each arm's runs, outcomes and cost compared, with how sure the difference is",
    },
    Route {
        method: "GET",
        path: "/api/insights/scores",
        summary: "Scored agent conversations: each flow's judge scores, criteria and worst transcripts",
    },
    Route {
        method: "GET",
        path: "/api/insights/unanswered",
        summary: "What the agent could not answer: questions no knowledge passage matched well enough",
    },
    Route {
        method: "GET",
        path: "/api/knowledge",
        summary: "Knowledge from the web: each source's pages, when fetched, and what failed",
    },
    Route {
        method: "POST",
        path: "/api/knowledge/refresh",
        summary: "Fetch the web knowledge sources again now",
    },
    Route {
        method: "GET",
        path: "/api/flows/{flow}/rollout",
        summary: "A flow's candidate version and the share of new conversations it is served",
    },
    Route {
        method: "PUT",
        path: "/api/flows/{flow}/rollout",
        summary: "Change a candidate version's share, promote it or roll it back (no restart)",
    },
    Route {
        method: "GET",
        path: "/api/openapi.json",
        summary: "This API's OpenAPI document (no key needed)",
    },
    Route {
        method: "GET",
        path: "/api/events/deliveries",
        summary: "Events out: the delivery log, newest first (endpoint, state, kind, conversation_id; before, limit)",
    },
    Route {
        method: "GET",
        path: "/api/events/{event_id}",
        summary: "Events out: an event with its payload and its deliveries",
    },
    Route {
        method: "POST",
        path: "/api/events/replay",
        summary: "Events out: deliver again (delivery ids, or an endpoint's parked deliveries of a period)",
    },
    Route {
        method: "GET",
        path: "/api/audit",
        summary: "The audit log: who changed what, when and from where, newest first (since, until, actor, action, before, limit; format=jsonl exports)",
    },
];

/// The handler of a listed route. Unknown pairs are a programming error caught by the
/// `router_serves_every_listed_route` test.
fn handler(route: &Route) -> MethodRouter<AppState> {
    match (route.method, route.path) {
        ("POST", "/api/user/whatsapp/send-freeform") => post(user_whatsapp::send_freeform),
        ("POST", "/api/user/whatsapp/send") => post(user_whatsapp::send_template),
        ("GET", "/api/user/whatsapp/session-status") => get(user_whatsapp::session_status),
        ("GET", "/api/user/whatsapp/senders") => get(user_whatsapp::senders),
        ("GET", "/api/user/whatsapp/templates") => get(user_whatsapp::templates),
        ("POST", "/api/v1/messages/send-message") => post(messages_v1::send_message),
        ("GET", "/api/conversations") => get(conversations::list),
        ("GET", "/api/conversations/{conversation_id}/messages") => get(conversations::messages),
        ("POST", "/api/conversations/{conversation_id}/messages") => {
            post(conversations::send_message)
        }
        ("POST", "/api/conversations/{conversation_id}/release") => post(conversations::release),
        ("GET", "/api/inbox/conversations") => get(super::inbox::list),
        ("GET", "/api/inbox/conversations/{conversation_id}") => get(super::inbox::show),
        ("POST", "/api/inbox/conversations/{conversation_id}/reply") => post(super::inbox::reply),
        ("POST", "/api/inbox/conversations/{conversation_id}/release") => {
            post(super::inbox::release)
        }
        ("POST", "/api/senders/{sender_id}/health") => post(health::check),
        ("GET", "/api/flows") => get(flows::list),
        ("GET", "/api/flows/saves") => get(flow_saves::list),
        ("GET", "/api/media/{sha256}") => get(inbound_media::file),
        ("GET", "/api/messages/{message_id}/media") => get(inbound_media::of_message),
        ("GET", "/api/costs") => get(costs::costs),
        ("GET", "/api/models/usage") => get(models::usage),
        ("GET", "/api/conversations/{conversation_id}/exchanges") => get(models::exchanges),
        // The one route whose body may be larger than `MAX_BODY_BYTES`.
        ("POST", "/api/contacts/import") => {
            post(contacts::import).with_body_limit(crate::domain::contact_file::MAX_BYTES)
        }
        ("GET", "/api/contacts/export") => get(contacts::export),
        ("GET", "/api/insights/flows") => get(super::insights::flows),
        ("GET", "/api/insights/flows/{flow}") => get(super::insights::flow),
        // A list of up to 10,000 recipients is larger than the API's usual 64 KiB.
        ("POST", "/api/broadcasts") => {
            post(broadcasts::create).with_body_limit(BROADCAST_BODY_BYTES)
        }
        ("GET", "/api/broadcasts") => get(broadcasts::list),
        ("GET", "/api/broadcasts/{broadcast_id}") => get(broadcasts::show),
        ("POST", "/api/broadcasts/{broadcast_id}/pause") => post(broadcasts::pause),
        ("POST", "/api/broadcasts/{broadcast_id}/resume") => post(broadcasts::resume),
        ("POST", "/api/broadcasts/{broadcast_id}/cancel") => post(broadcasts::cancel),
        ("GET", "/api/openapi.json") => get(openapi::document),
        ("GET", "/api/insights/experiments") => get(experiments::list),
        ("GET", "/api/insights/scores") => get(scores::list),
        ("GET", "/api/insights/unanswered") => get(unanswered::list),
        ("GET", "/api/knowledge") => get(knowledge::list),
        ("POST", "/api/knowledge/refresh") => post(knowledge::refresh),
        ("GET", "/api/flows/{flow}/rollout") => get(rollouts::show),
        ("PUT", "/api/flows/{flow}/rollout") => axum::routing::put(rollouts::update),
        ("GET", "/api/events/deliveries") => get(events::deliveries),
        ("GET", "/api/events/{event_id}") => get(events::show),
        ("POST", "/api/events/replay") => post(events::replay),
        ("GET", "/api/audit") => get(audit::list),
        (method, path) => unreachable!("route {method} {path} has no handler"),
    }
}

/// Routes that answer without an API key.
fn is_public(route: &Route) -> bool {
    route.path == "/api/openapi.json"
}

pub fn router(state: AppState) -> Router<AppState> {
    let gate = auth::Gate {
        auth: Arc::new(auth::ApiAuth::new(&state.config)),
        app: state.clone(),
    };
    let context = Arc::new(ApiContext {
        media_http: media::client(&state.config.api.media_check),
    });
    let mut public = Router::new();
    let mut protected = Router::new();
    // A method router per path: two methods on one path share it.
    let mut paths: Vec<&str> = Vec::new();
    for r in ROUTES {
        if !paths.contains(&r.path) {
            paths.push(r.path);
        }
    }
    for path in paths {
        let mut methods: Option<MethodRouter<AppState>> = None;
        let mut open = false;
        for r in ROUTES.iter().filter(|r| r.path == path) {
            open |= is_public(r);
            methods = Some(match methods {
                None => handler(r),
                Some(m) => m.merge(handler(r)),
            });
        }
        let Some(methods) = methods else { continue };
        if open {
            public = public.route(path, methods);
        } else {
            protected = protected.route(path, methods);
        }
    }
    // Unknown paths under /api answer 404 in JSON, key or not: the OpenAPI document,
    // which needs no key either, already says which paths exist.
    public = public.route("/api/{*rest}", axum::routing::any(not_found));
    protected = protected.route_layer(middleware::from_fn_with_state(gate, auth::require_key));
    public
        .merge(protected)
        .with_body_limit(MAX_BODY_BYTES)
        .layer(middleware::from_fn(error::render_errors))
        .layer(Extension(context))
}

/// Unknown paths under `/api/`.
async fn not_found(State(st): State<AppState>, request: Request) -> Error {
    Error::not_found(super::pages::nothing_at(
        request.uri().path(),
        st.sandbox.serves_http(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_route_has_a_handler_and_is_listed_once() {
        for (i, r) in ROUTES.iter().enumerate() {
            let _ = handler(r);
            assert!(
                !ROUTES[..i]
                    .iter()
                    .any(|o| o.method == r.method && o.path == r.path),
                "{} {} is listed twice",
                r.method,
                r.path
            );
        }
    }
}
