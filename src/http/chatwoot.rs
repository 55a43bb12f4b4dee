//! Chatwoot's webhook (issue 57): `POST /webhooks/chatwoot/{token}`, the way back of the
//! Chatwoot bridge (`crate::workers::chatwoot` mirrors the other way).
//!
//! The token in the address is compared in constant time with `chatwoot.webhook_token`, and
//! with `chatwoot.webhook_secret` set the call must carry Chatwoot's signature
//! (`X-Chatwoot-Signature: sha256=HMAC(secret, "{timestamp}.{body}")`, a timestamp within
//! five minutes). The body is bounded like every webhook's; its JSON is read leniently (what
//! is not understood is ignored with 200, so Chatwoot does not retry it forever).
//!
//! - `message_created`, outgoing, not private, written by an agent (not posted by the bridge:
//!   its messages carry a `parley-` source id) in a mirrored conversation: sent to the
//!   customer through the outbox like an API send (sender online, window open, media
//!   checked, priced, spend limit), EXACTLY ONCE: Chatwoot's message id is recorded in the
//!   same transaction as the send (`store::Chatwoot::take_chatwoot_message`), so a webhook
//!   delivered twice sends once. What cannot be sent (window closed, sender offline…) is
//!   told to the agent in a private note; with `chatwoot.closed_window_template` a closed
//!   window sends that template instead.
//! - `conversation_status_changed` to `resolved`: the handoff ends, as
//!   `POST /api/conversations/{id}/release` does.

use super::api::{media, outbox, queue_release};
use super::error::{self, Error, WithBodyLimit};
use super::state::AppState;
use crate::config::ChatwootConfig;
use crate::domain::limits::{BODY_MAX, TEXT_MAX};
use crate::domain::{Conversation, MediaKind, OutboundContent, OutboundMessage};
use crate::domain::{TemplateMessage, WindowFallback};
use crate::store::{NewOutbound, Origin};
use crate::workers::chatwoot::client::{Client, NewMessage};
use crate::workers::chatwoot::SOURCE_PREFIX;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{middleware, Extension, Json, Router};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// How far Chatwoot's signed timestamp may be from Parley's clock.
const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// Attachments of one agent message looked at (the first is sent, see `plan`).
const MAX_ATTACHMENTS: usize = 10;

/// What the webhook handler shares: the config and the clients it calls.
struct Hook {
    cfg: ChatwootConfig,
    client: Client,
    media_http: reqwest::Client,
}

/// The webhook's route when `chatwoot:` is configured; no route otherwise.
pub fn router(state: &AppState) -> Router<AppState> {
    let Some(cfg) = state.config.chatwoot.clone() else {
        return Router::new();
    };
    let hook = Arc::new(Hook {
        client: Client::new(&cfg),
        media_http: media::client(&state.config.api.media_check),
        cfg,
    });
    Router::new()
        .route("/webhooks/chatwoot/{token}", post(webhook))
        .layer(Extension(hook))
        .with_body_limit(state.config.webhooks.max_body_bytes)
        .layer(middleware::from_fn(error::render_errors))
}

async fn webhook(
    State(st): State<AppState>,
    Extension(hook): Extension<Arc<Hook>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Error> {
    let expected = hook.cfg.webhook_token.as_bytes();
    if !bool::from(token.as_bytes().ct_eq(expected)) {
        return Err(Error::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "the token in the address is not chatwoot.webhook_token: copy the webhook URL from Parley's config into Chatwoot again",
        ));
    }
    if let Some(secret) = &hook.cfg.webhook_secret {
        check_signature(secret, &headers, &body, st.clock.now())?;
    }
    let payload: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::bad_request(format!("the body is not JSON: {e}")))?;
    let result = match payload["event"].as_str() {
        Some("message_created") => agent_message(&st, &hook, &payload).await?,
        Some("conversation_status_changed" | "conversation_resolved") => {
            status_changed(&st, &payload).await?
        }
        _ => "ignored",
    };
    Ok(Json(json!({ "success": true, "result": result })))
}

/// Checks Chatwoot's signature of the body (`sha256=` and the hex HMAC-SHA256 of
/// `{timestamp}.{body}`) and that its timestamp is recent.
fn check_signature(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let refused = |why: &str| {
        Error::new(
            StatusCode::UNAUTHORIZED,
            "BAD_SIGNATURE",
            format!("{why}; chatwoot.webhook_secret must be the webhook's secret in Chatwoot"),
        )
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let timestamp = header("x-chatwoot-timestamp")
        .ok_or_else(|| refused("the call has no X-Chatwoot-Timestamp"))?;
    let signature = header("x-chatwoot-signature")
        .and_then(|s| s.strip_prefix("sha256="))
        .and_then(|s| hex::decode(s.trim()).ok())
        .ok_or_else(|| refused("the call has no X-Chatwoot-Signature: sha256=…"))?;
    let at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| refused("X-Chatwoot-Timestamp is not a number of seconds"))?;
    if (now.timestamp() - at).abs() > SIGNATURE_TOLERANCE_SECS {
        return Err(refused(
            "X-Chatwoot-Timestamp is more than five minutes away",
        ));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| refused("the secret cannot key an HMAC"))?;
    mac.update(timestamp.trim().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| refused("the signature does not match the body"))
}

/// An agent's message as the webhook tells of it.
#[derive(Debug, Clone, PartialEq)]
struct AgentMessage {
    id: i64,
    conversation: i64,
    text: String,
    /// `(data_url, file_type)` of each attachment.
    attachments: Vec<(String, String)>,
}

fn as_i64(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// The agent's message in a `message_created` payload; `None` for anything else (a
/// customer's message, a private note, an activity, a message the bridge posted).
fn parse_agent_message(p: &Value) -> Option<AgentMessage> {
    let outgoing = p["message_type"] == "outgoing" || p["message_type"] == 1;
    let private = p["private"].as_bool().unwrap_or(false);
    let own = p["source_id"]
        .as_str()
        .is_some_and(|s| s.starts_with(SOURCE_PREFIX));
    let plain = p["content_type"]
        .as_str()
        .is_none_or(|t| t == "text" || t.is_empty());
    let by_contact = p["sender"]["type"] == "contact";
    if !outgoing || private || own || !plain || by_contact {
        return None;
    }
    let attachments = p["attachments"]
        .as_array()
        .map(|a| {
            a.iter()
                .take(MAX_ATTACHMENTS)
                .filter_map(|x| {
                    let url = x["data_url"].as_str()?;
                    let kind = x["file_type"].as_str().unwrap_or("file");
                    Some((url.to_string(), kind.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(AgentMessage {
        id: as_i64(&p["id"])?,
        conversation: as_i64(&p["conversation"]["id"])?,
        text: p["content"].as_str().unwrap_or_default().trim().to_string(),
        attachments,
    })
}

/// What is done with an agent's message: the send (if any) and the note for the agent.
struct Plan {
    send: Option<(OutboundContent, WindowFallback)>,
    note: Option<String>,
}

impl Plan {
    fn refused(why: impl Into<String>) -> Self {
        Plan {
            send: None,
            note: Some(format!("Parley: NOT sent to the customer: {}", why.into())),
        }
    }
}

fn media_kind(file_type: &str) -> MediaKind {
    match file_type {
        "image" => MediaKind::Image,
        "video" => MediaKind::Video,
        "audio" => MediaKind::Audio,
        _ => MediaKind::Document,
    }
}

fn template(cfg: &ChatwootConfig) -> Option<TemplateMessage> {
    cfg.closed_window_template
        .as_ref()
        .map(|t| TemplateMessage {
            name: t.name.clone(),
            language: t.language.clone(),
            variables: Default::default(),
            quick_reply_payloads: Vec::new(),
            content_sid: None,
        })
}

/// Decides what an agent's message becomes, with the checks of an API send.
async fn plan(
    st: &AppState,
    hook: &Hook,
    conversation: &Conversation,
    m: &AgentMessage,
) -> Result<Plan, Error> {
    if outbox::sender(st, conversation.sender_id).is_none() {
        return Ok(Plan::refused(format!(
            "sender {} is not configured in Parley any more",
            conversation.sender_id
        )));
    }
    if outbox::is_offline(st, conversation.sender_id).await? {
        return Ok(Plan::refused(
            "the WhatsApp sender is stopped (see GET /api/health); write again once it is restarted",
        ));
    }
    let extra = m.attachments.len().saturating_sub(1);
    let content = match m.attachments.first() {
        Some((url, kind)) => {
            let media = media_kind(kind);
            if m.text.chars().count() > BODY_MAX {
                return Ok(Plan::refused(format!(
                    "a caption has at most {BODY_MAX} characters"
                )));
            }
            if let Err(p) =
                media::check(&hook.media_http, &st.config.api.media_check, media, url).await
            {
                return Ok(Plan::refused(format!(
                    "the attachment was refused: {}",
                    Error::from(p).message
                )));
            }
            OutboundContent::Media {
                media,
                link: url.clone(),
                caption: (!m.text.is_empty()).then(|| m.text.clone()),
                filename: None,
            }
        }
        None if m.text.is_empty() => {
            return Ok(Plan {
                send: None,
                note: None,
            })
        }
        None if m.text.chars().count() > TEXT_MAX => {
            return Ok(Plan::refused(format!(
                "WhatsApp takes at most {TEXT_MAX} characters in one message"
            )))
        }
        None => OutboundContent::Text {
            body: m.text.clone(),
            preview_url: false,
        },
    };
    let mut note = (extra > 0).then(|| {
        format!("Parley: only the first attachment was sent; send the other {extra} one by one.")
    });
    let window = super::api::session::window_of(st, Some(conversation)).await?;
    let fallback = template(&hook.cfg);
    let content = if window.is_open {
        content
    } else {
        let closed = window
            .expires_at
            .map(|t| format!(" at {}", t.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default();
        match &fallback {
            Some(t) => {
                note = Some(format!(
                    "Parley: WhatsApp's 24-hour window closed{closed}, so your message was NOT sent; the template `{}` was sent instead. Once the customer answers, write again.",
                    t.name
                ));
                OutboundContent::Template(t.clone())
            }
            None => {
                return Ok(Plan::refused(format!(
                    "WhatsApp's 24-hour window closed{closed}; the customer must write first (or set chatwoot.closed_window_template to send a template instead)"
                )))
            }
        }
    };
    let fallback = fallback.map_or(WindowFallback::Fail, WindowFallback::Template);
    Ok(Plan {
        send: Some((content, fallback)),
        note,
    })
}

/// `message_created`: an agent's message sent to the customer, once.
async fn agent_message(
    st: &AppState,
    hook: &Arc<Hook>,
    payload: &Value,
) -> Result<&'static str, Error> {
    let Some(m) = parse_agent_message(payload) else {
        return Ok("ignored");
    };
    let Some(id) = st.store.chatwoot_conversation(m.conversation).await? else {
        return Ok("not_mirrored");
    };
    let Some(conversation) = st.store.conversation(id).await? else {
        return Ok("not_mirrored");
    };
    let to = st
        .store
        .contact(conversation.contact_id)
        .await?
        .and_then(|c| c.contact_ref())
        .ok_or_else(Error::conversation_not_found)?;
    let mut plan = plan(st, hook, &conversation, &m).await?;
    let mut send = None;
    if let Some((content, fallback)) = plan.send.take() {
        let (cost, _) = outbox::price(st, Some(&conversation), &to, &content);
        let sender =
            outbox::sender(st, conversation.sender_id).ok_or_else(Error::sender_not_found)?;
        if outbox::over_budget(st, sender, cost.price_micros).await? {
            plan = Plan::refused("the sender's spend limit is reached (sender.spend_limit)");
        } else {
            send = Some(NewOutbound {
                sender_id: conversation.sender_id,
                conversation_id: conversation.id,
                message: OutboundMessage {
                    to,
                    content,
                    trace: None,
                },
                fallback,
                origin: Origin::Api,
                flow: None,
                step: None,
                cost: Some(cost),
            });
        }
    }
    let taken = st
        .store
        .take_chatwoot_message(m.id, conversation.id, send.as_ref(), st.clock.now())
        .await?;
    if !taken.new {
        return Ok("duplicate");
    }
    if let (Some(s), Some(_)) = (&send, taken.outbound_id) {
        if let Some(cost) = &s.cost {
            crate::metrics::message_priced(
                s.sender_id,
                "chatwoot",
                cost.category.as_str(),
                cost.pricing_type.as_str(),
                cost.price_micros,
            );
        }
        st.wake.outbox.notify_one();
    }
    if let Some(note) = plan.note {
        tell_agent(hook.clone(), m.conversation, m.id, note);
    }
    tracing::info!(
        conversation_id = conversation.id,
        chatwoot_message_id = m.id,
        sent = taken.outbound_id.is_some(),
        "a Chatwoot agent's message taken"
    );
    Ok(if taken.outbound_id.is_some() {
        "queued"
    } else {
        "not_sent"
    })
}

/// Leaves a private note in the Chatwoot conversation, after the webhook is answered.
fn tell_agent(hook: Arc<Hook>, conversation: i64, message_id: i64, note: String) {
    tokio::spawn(async move {
        let note = NewMessage {
            content: note,
            message_type: "outgoing",
            private: true,
            source_id: format!("{SOURCE_PREFIX}note-{message_id}"),
        };
        if let Err(e) = hook.client.post_message(conversation, &note, None).await {
            tracing::warn!(conversation, error = ?e, "a note for a Chatwoot agent could not be posted");
        }
    });
}

/// `conversation_status_changed`: resolved in Chatwoot ends the handoff in Parley.
async fn status_changed(st: &AppState, payload: &Value) -> Result<&'static str, Error> {
    let status = payload["status"]
        .as_str()
        .or_else(|| payload["conversation"]["status"].as_str());
    if status != Some("resolved") {
        return Ok("ignored");
    }
    let Some(cw) = as_i64(&payload["id"]).or_else(|| as_i64(&payload["conversation"]["id"])) else {
        return Ok("ignored");
    };
    let Some(id) = st.store.chatwoot_conversation(cw).await? else {
        return Ok("not_mirrored");
    };
    let Some(conversation) = st.store.conversation(id).await? else {
        return Ok("not_mirrored");
    };
    match queue_release(st, &conversation, "chatwoot").await {
        Ok(_) => Ok("release_queued"),
        Err(e) if e.status == StatusCode::CONFLICT => Ok("not_in_handoff"),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(extra: Value) -> Value {
        let mut p = json!({
            "event": "message_created", "id": 55, "content": " Hello from Ana ",
            "message_type": "outgoing", "private": false, "content_type": "text",
            "source_id": null, "sender": {"id": 3, "type": "user"},
            "conversation": {"id": 12, "status": "open"}, "attachments": []
        });
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        p
    }

    #[test]
    fn only_an_agents_public_message_is_taken() {
        let m = parse_agent_message(&agent(json!({}))).unwrap();
        assert_eq!(
            (m.id, m.conversation, m.text.as_str()),
            (55, 12, "Hello from Ana")
        );
        let m = parse_agent_message(&agent(json!({"message_type": 1, "id": "56",
            "attachments": [{"data_url": "https://cw.example/a.jpg", "file_type": "image"}]})))
        .unwrap();
        assert_eq!(m.id, 56);
        assert_eq!(
            m.attachments,
            vec![("https://cw.example/a.jpg".into(), "image".into())]
        );
        for not in [
            json!({"message_type": "incoming"}),
            json!({"message_type": "activity"}),
            json!({"private": true}),
            json!({"source_id": "parley-evt-9"}),
            json!({"content_type": "input_select"}),
            json!({"sender": {"type": "contact"}}),
            json!({"id": null}),
            json!({"conversation": "x"}),
        ] {
            assert_eq!(parse_agent_message(&agent(not.clone())), None, "{not}");
        }
    }

    #[test]
    fn a_signature_is_checked_over_timestamp_and_body() {
        let now = Utc::now();
        let ts = now.timestamp().to_string();
        let body = br#"{"event":"message_created"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(format!("{ts}.").as_bytes());
        mac.update(body);
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let mut h = HeaderMap::new();
        h.insert("x-chatwoot-timestamp", ts.parse().unwrap());
        h.insert("x-chatwoot-signature", sig.parse().unwrap());
        assert!(check_signature("s3cret", &h, body, now).is_ok());
        assert!(check_signature("other", &h, body, now).is_err());
        assert!(check_signature("s3cret", &h, b"{}", now).is_err());
        let later = now + chrono::TimeDelta::minutes(6);
        let e = check_signature("s3cret", &h, body, later).unwrap_err();
        assert!(e.message.contains("five minutes"), "{}", e.message);
        assert!(check_signature("s3cret", &HeaderMap::new(), body, now).is_err());
    }
}
