//! `POST /api/inbox/conversations/{id}/reply` and `…/release`: a person answers a customer
//! handed to them, and gives the conversation back to the bot.
//!
//! A reply is `{"text": "…"}` while the 24-hour window is open, or `{"template_id": 45,
//! "variables": {"1": "Ana"}}` at any time (one of an approved template of the sender). It
//! goes through the same outbox as every send: the window decided again at the moment of
//! sending (free text then fails rather than falls back), the cost ledger and the spend
//! limit, the sender's pace. Free text into a closed window is refused at once (403
//! `WINDOW_CLOSED`, saying to send a template). The reply is recorded as written by the
//! key (`step: inbox:<key name>` in the ledger and the outbox), and a release names it too.

use super::list::handed_off;
use crate::config::TemplateConfig;
use crate::domain::{
    Conversation, OutboundContent, OutboundMessage, TemplateMessage, WindowFallback,
};
use crate::http::api::auth::Caller;
use crate::http::api::body::{chars, Fields};
use crate::http::api::common::MAX_TEXT;
use crate::http::api::outbox;
use crate::http::api::session::window_of;
use crate::http::error::{Error, PathParam};
use crate::http::state::AppState;
use crate::store::{Id, NewEvent, NewOutbound, Origin};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Who a reply or release is recorded as: `inbox:<key name>`.
fn author(caller: Option<&Extension<Caller>>) -> String {
    let name = caller.map(|c| c.0 .0.as_str()).unwrap_or("unknown");
    format!("{}{name}", super::show::AUTHOR_PREFIX)
}

pub async fn reply(
    State(st): State<AppState>,
    caller: Option<Extension<Caller>>,
    PathParam(raw_id): PathParam,
    body: Bytes,
) -> Result<Json<Value>, Error> {
    let f = Fields::parse(&body)?;
    let wanted = Wanted::read(&st, &f)?;
    let conversation = handed_off(&st, &raw_id).await?;
    let sender = outbox::sender(&st, conversation.sender_id).ok_or_else(Error::sender_not_found)?;
    if let Some(refused) = crate::http::api::auth::sender_refusal(sender.id) {
        return Err(refused);
    }
    if outbox::is_offline(&st, sender.id).await? {
        return Err(Error::sender_offline());
    }
    let window = window_of(&st, Some(&conversation)).await?;
    let content = match wanted {
        Wanted::Text(_) if !window.is_open => return Err(window_closed(window.expires_at)),
        Wanted::Text(body) => OutboundContent::Text {
            body,
            preview_url: false,
        },
        Wanted::Template(t, variables) => {
            let live = st.store.live_templates().await?;
            let twilio = sender.channel == crate::config::ChannelKind::Twilio;
            if !super::show::is_usable(t, &live, twilio) {
                return Err(Error::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "TEMPLATE_NOT_APPROVED",
                    format!(
                        "template {} ({}) cannot be sent from this sender now: it is not approved, or it has no twilio_content_sid for a Twilio sender",
                        t.name, t.language
                    ),
                )
                .with_field("template_id"));
            }
            OutboundContent::Template(TemplateMessage {
                name: t.name.clone(),
                language: t.language.clone(),
                variables,
                quick_reply_payloads: Vec::new(),
                content_sid: t.twilio_content_sid.clone(),
            })
        }
    };
    let to = st
        .store
        .contact(conversation.contact_id)
        .await?
        .and_then(|c| c.contact_ref())
        .ok_or_else(Error::conversation_not_found)?;
    let message = OutboundMessage {
        to,
        content,
        trace: None,
    };
    let who = author(caller.as_ref());
    let id = enqueue(&st, sender, &conversation, message, &who).await?;
    Ok(Json(json!({
        "success": true,
        "conversation_id": conversation.id,
        "message_id": id,
        "status": "queued",
        "by": who,
    })))
}

/// What the person asked to send, checked before anything is read.
enum Wanted<'a> {
    Text(String),
    Template(&'a TemplateConfig, BTreeMap<String, String>),
}

impl<'a> Wanted<'a> {
    fn read(st: &'a AppState, f: &Fields) -> Result<Self, Error> {
        let text = f.opt_str("text")?;
        let template = f.opt_int("template_id")?;
        match (text, template) {
            (Some(_), Some(_)) => Err(Error::field("text", "give text or template_id, not both")),
            (None, None) => Err(Error::field(
                "text",
                "text is required (or template_id and variables to send a template)",
            )),
            (Some(text), None) => {
                if crate::domain::limits::is_blank(text) {
                    return Err(Error::field("text", "text must not be empty"));
                }
                if let Some(why) = crate::domain::limits::text_control_problem(text) {
                    return Err(Error::field("text", format!("text {why}")));
                }
                if chars(text) > MAX_TEXT {
                    return Err(Error::field(
                        "text",
                        format!(
                            "text must be at most {MAX_TEXT} characters, got {}",
                            chars(text)
                        ),
                    ));
                }
                Ok(Wanted::Text(text.to_string()))
            }
            (None, Some(id)) => {
                let t = st
                    .config
                    .templates
                    .iter()
                    .find(|t| t.id == id)
                    .ok_or_else(|| {
                        Error::new(
                            StatusCode::NOT_FOUND,
                            "TEMPLATE_NOT_FOUND",
                            format!("Template {id} not found"),
                        )
                        .with_field("template_id")
                    })?;
                Ok(Wanted::Template(t, variables(t, f)?))
            }
        }
    }
}

/// `variables`: exactly the template's placeholders, each a non-empty string.
fn variables(t: &TemplateConfig, f: &Fields) -> Result<BTreeMap<String, String>, Error> {
    let given = f.opt_object("variables")?;
    let mut out = BTreeMap::new();
    let wanted = t.placeholders();
    for name in &wanted {
        let field = format!("variables.{name}");
        let value = given.as_ref().and_then(|g| g.0.get(name));
        match value {
            Some(Value::String(s)) if !crate::domain::limits::is_blank(s) => {
                if let Some(why) = crate::domain::limits::template_parameter_problem(s) {
                    return Err(Error::field(&field, format!("{field} {why}")));
                }
                out.insert(name.clone(), s.clone());
            }
            Some(Value::String(_)) | None => {
                return Err(Error::field(
                    &field,
                    format!(
                        "{field} is empty: fill every placeholder of template {} ({})",
                        t.name,
                        wanted.join(", ")
                    ),
                ))
            }
            Some(_) => return Err(Error::field(&field, format!("{field} must be a string"))),
        }
    }
    if let Some(extra) = given
        .iter()
        .flat_map(|g| g.0.keys())
        .find(|k| !wanted.contains(k))
    {
        let field = format!("variables.{extra}");
        return Err(Error::field(
            &field,
            format!("{field} is not a placeholder of template {}", t.name),
        ));
    }
    Ok(out)
}

/// 403 for free text into a closed window.
fn window_closed(closed_at: Option<chrono::DateTime<chrono::Utc>>) -> Error {
    let when = closed_at
        .map(|t| format!(" at {}", t.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_else(|| " (the customer has not written yet)".into());
    Error::new(
        StatusCode::FORBIDDEN,
        "WINDOW_CLOSED",
        format!(
            "The 24-hour window closed{when}: WhatsApp delivers free text only within 24 hours of the customer's last message. Send one of the approved templates instead (template_id and variables); the window opens again when the customer writes."
        ),
    )
    .with_field("text")
}

/// Queues the reply, priced in the ledger and held to the spend limit, and wakes the
/// outbox. Free text fails (never falls back) if the window closes before it leaves.
async fn enqueue(
    st: &AppState,
    sender: &crate::config::SenderConfig,
    conversation: &Conversation,
    message: OutboundMessage,
    who: &str,
) -> Result<Id, Error> {
    let (cost, _) = outbox::price(st, Some(conversation), &message.to, &message.content);
    if outbox::over_budget(st, sender, cost.price_micros).await? {
        return Err(Error::insufficient_balance());
    }
    let ids = st
        .store
        .enqueue(
            &[NewOutbound {
                sender_id: sender.id,
                conversation_id: conversation.id,
                message,
                fallback: WindowFallback::Fail,
                origin: Origin::Api,
                flow: None,
                step: Some(who.to_string()),
                cost: Some(cost.clone()),
            }],
            st.clock.now(),
        )
        .await?;
    crate::metrics::message_priced(
        sender.id,
        "inbox",
        cost.category.as_str(),
        cost.pricing_type.as_str(),
        cost.price_micros,
    );
    st.wake.outbox.notify_one();
    tracing::info!(
        conversation_id = conversation.id,
        by = who,
        "inbox reply queued"
    );
    Ok(ids.first().copied().unwrap_or_default())
}

pub async fn release(
    State(st): State<AppState>,
    caller: Option<Extension<Caller>>,
    PathParam(raw_id): PathParam,
) -> Result<Json<Value>, Error> {
    let conversation = handed_off(&st, &raw_id).await?;
    let who = author(caller.as_ref());
    let Some(event) = NewEvent::release(&conversation, &who, st.clock.now()) else {
        return Err(Error::conversation_not_found());
    };
    // Asked twice, the release is stored once (its dedupe key is the handoff's).
    st.store.insert_events(&[event]).await?;
    st.wake.inbox.notify_one();
    tracing::info!(
        conversation_id = conversation.id,
        by = who,
        "handoff release requested from the inbox"
    );
    Ok(Json(json!({
        "success": true,
        "conversation_id": conversation.id,
        "status": "release_queued",
        "by": who,
    })))
}
