//! A sender's "Run Health Check" (seed 004): `POST /api/senders/{sender_id}/health`.
//! Checks that the provider is reachable and accepts the credentials
//! (`Channel::check_health`), that the sender is not stopped, and that a verified webhook
//! or Meta handshake arrived recently (`WebhookLog`, in memory: it starts empty after a
//! restart; "not applicable" for sandbox senders, which no provider calls). With
//! `{"test_phone": "+…"}` it also queues a test message to that phone, which needs an open
//! window; a closed one is reported in `test_message` (the health report is still given,
//! with 200).

use super::body::{chars, Fields};
use super::common::{phone, MAX_TEXT};
use super::outbox::{self, parley_message_id};
use super::session::window_of;
use crate::config::ChannelKind;
use crate::domain::session::session_status;
use crate::domain::{ContactRef, OutboundContent, OutboundMessage};
use crate::http::error::{Error, PathParam};
use crate::http::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use chrono::Duration;
use serde_json::{json, Value};

/// "Recently", for the webhook check.
const WEBHOOK_RECENT_HOURS: i64 = 24;
const DEFAULT_TEST_TEXT: &str = "Parley health check: this number can send you messages.";

pub async fn check(
    State(st): State<AppState>,
    PathParam(raw_id): PathParam,
    body: Bytes,
) -> Result<Json<Value>, Error> {
    let f = Fields::parse_optional(&body)?;
    let test_phone = f
        .opt_str("test_phone")?
        .map(|p| phone("test_phone", p))
        .transpose()?;
    let test_text = f.opt_str("test_message")?.unwrap_or(DEFAULT_TEST_TEXT);
    if test_text.trim().is_empty() || chars(test_text) > MAX_TEXT {
        return Err(Error::field(
            "test_message",
            format!("test_message must have 1 to {MAX_TEXT} characters"),
        ));
    }
    let id: i64 = raw_id
        .trim()
        .parse()
        .map_err(|_| Error::sender_not_found())?;
    let sender = outbox::sender(&st, id).ok_or_else(Error::sender_not_found)?;
    let runtime = st.senders.get(id).ok_or_else(Error::sender_not_found)?;
    let provider = runtime.channel.check_health().await;
    let routing = routing_check(runtime).await;
    let stop = st
        .store
        .stopped_senders()
        .await?
        .into_iter()
        .find(|s| s.sender_id == id);
    let now = st.clock.now();
    let last_webhook = st.webhook_log.last(id);
    let webhook_recent =
        last_webhook.is_some_and(|t| now - t <= Duration::hours(WEBHOOK_RECENT_HOURS));
    // No provider calls a sandbox sender's webhooks: its customers are simulated.
    let webhook_check = if sender.channel == ChannelKind::Sandbox {
        json!({
            "ok": true,
            "applicable": false,
            "detail": "not applicable: sandbox sender (no provider sends it webhooks; customers are simulated through the sandbox)",
        })
    } else {
        json!({
            "ok": webhook_recent,
            "last_verified_at": last_webhook.map(|t| t.to_rfc3339()),
            "detail": if webhook_recent {
                "a verified webhook or handshake arrived in the last 24 hours".to_string()
            } else {
                "no verified webhook or handshake in the last 24 hours (since Parley started); check the webhook URL and secrets at the provider".to_string()
            },
        })
    };
    // A Meta sender on a Graph API version Meta has retired cannot send, whatever the
    // provider answers to a read of the number.
    let version = sender.meta.as_ref().map(|meta| {
        let who = format!("sender {id}");
        let warning =
            crate::domain::graph_versions::warning(&who, &meta.api_base, now.date_naive());
        let retired = crate::domain::graph_versions::days_left(&meta.api_base, now.date_naive())
            .is_some_and(|days| days <= 0);
        (retired, warning)
    });
    let healthy = provider.reachable
        && provider.credentials_valid
        && stop.is_none()
        && !version.as_ref().is_some_and(|(retired, _)| *retired);
    let mut test = Value::Null;
    if let Some(to) = test_phone {
        let contact = ContactRef::Phone(to.clone());
        let conversation = st.store.find_conversation(id, &contact.key()).await?;
        let window = window_of(&st, conversation.as_ref()).await?;
        test = match conversation {
            Some(c) if window.is_open && stop.is_none() => {
                let message_id = outbox::enqueue(
                    &st,
                    id,
                    &c,
                    OutboundMessage {
                        to: contact,
                        content: OutboundContent::Text {
                            body: test_text.to_string(),
                            preview_url: false,
                        },
                        trace: None,
                    },
                )
                .await?;
                json!({
                    "queued": true,
                    "to": to.as_e164(),
                    "conversation_id": c.id,
                    "message_id": message_id,
                    "message_sid": parley_message_id(message_id),
                })
            }
            _ if stop.is_some() => json!({
                "queued": false,
                "to": to.as_e164(),
                "error_code": "SENDER_OFFLINE",
                "error": "Sender is not online. Current status: Offline",
            }),
            _ => json!({
                "queued": false,
                "to": to.as_e164(),
                "error_code": "SESSION_EXPIRED",
                "error": format!(
                    "Cannot send a test message to {}: the 24-hour window is closed. The customer must send a message to {} first.",
                    to.as_e164(),
                    sender.phone_number.as_e164()
                ),
                "session_status": session_status(&window),
            }),
        };
    }
    let mut body = json!({
        "success": true,
        "sender_id": id,
        "status": if healthy { "healthy" } else { "unhealthy" },
        "checks": {
            "provider_reachable": { "ok": provider.reachable },
            "credentials_valid": { "ok": provider.credentials_valid, "detail": provider.detail },
            "sender_online": {
                "ok": stop.is_none(),
                "detail": stop.as_ref().map(|s| format!("stopped at {}: {}", s.stopped_at.to_rfc3339(), s.reason)),
            },
            "webhook_verified_recently": webhook_check,
            // Meta senders only: the version their api_base names, retired or retiring.
            "graph_api_version": version.map(|(retired, warning)| json!({ "ok": !retired, "detail": warning })),
        },
        "test_message": test,
    });
    // Meta senders with `meta.routing` only: the number's routing roles.
    if let Some(routing) = routing {
        body["checks"]["routing_roles"] = routing;
    }
    Ok(Json(body))
}

/// Conversation routing (Meta senders with `meta.routing` only): the number's routing
/// roles, read again now.
async fn routing_check(runtime: &crate::channels::senders::SenderRuntime) -> Option<Value> {
    let status = runtime.read_routing_roles().await?;
    Some(match status.roles {
        Ok(r) => json!({
            "ok": true,
            "roles": r.roles,
            "is_standby": r.is_standby,
            "may_take": r.may_take(),
            "detail": if r.roles.is_empty() && !r.is_standby {
                "Parley holds no routing role on this number: it receives no messages; ask the business to make it primary for an entry point, or grant standby".to_string()
            } else {
                format!("routing roles: {}", r.labels().join(", "))
            },
        }),
        Err(e) => {
            json!({ "ok": false, "detail": format!("the number's routing roles could not be read: {e}") })
        }
    })
}
