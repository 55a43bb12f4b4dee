//! The hosted platforms' sends (seeds 000–002): `POST /api/user/whatsapp/send-freeform`
//! and `POST /api/user/whatsapp/send` (template), with their success bodies and refusals.
//!
//! Checks run cheapest first and nothing is written before all of them pass: fields, sender,
//! template, sender online, window (free-form), spend limit; then the conversation is found
//! or created and the message queued.

use crate::config::{TemplateConfig, TemplateStatus};
use crate::domain::session::session_status;
use crate::domain::{is_user_id, ContactRef, OutboundContent, OutboundMessage, TemplateMessage};
use crate::http::api::body::{chars, Fields};
use crate::http::api::common::{phone, MAX_TEXT};
use crate::http::api::outbox::{self, parley_message_id};
use crate::http::api::session::window_of;
use crate::http::error::Error;
use crate::http::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The platforms' limit on `recipient_name`.
const MAX_NAME: usize = 255;

/// The customer a request names: `recipient_phone`, or `recipient_user_id` (a
/// business-scoped user id, for customers who hide their number); exactly one.
pub fn recipient(f: &Fields) -> Result<ContactRef, Error> {
    let Some(id) = f.opt_str("recipient_user_id")? else {
        return Ok(ContactRef::Phone(phone(
            "recipient_phone",
            f.str("recipient_phone")?,
        )?));
    };
    if f.has("recipient_phone") {
        return Err(Error::field(
            "recipient_user_id",
            "give recipient_phone or recipient_user_id, not both",
        ));
    }
    if !is_user_id(id.trim()) {
        return Err(Error::field(
            "recipient_user_id",
            "recipient_user_id is not a business-scoped user id: a two-letter country code, \
             a dot, then letters and digits, like US.13491208655302741918",
        ));
    }
    Ok(ContactRef::BusinessScoped(id.trim().to_string()))
}

/// Where a send to `contact` goes: the stored contact's address (its phone when known,
/// else its BSUID), so an API call naming a BSUID reaches a customer Parley knows by phone
/// by phone.
pub async fn address(
    st: &AppState,
    contact: &ContactRef,
    contact_id: crate::domain::Id,
) -> Result<ContactRef, Error> {
    if contact.user_id().is_none() {
        return Ok(contact.clone());
    }
    Ok(st
        .store
        .contact(contact_id)
        .await?
        .and_then(|c| c.contact_ref())
        .unwrap_or_else(|| contact.clone()))
}

/// The sender, online, or the platforms' 404 / 503.
async fn online_sender(st: &AppState, id: i64) -> Result<&crate::config::SenderConfig, Error> {
    let sender = outbox::sender(st, id).ok_or_else(Error::sender_not_found)?;
    if let Some(refused) = crate::http::api::auth::sender_refusal(id) {
        return Err(refused);
    }
    if outbox::is_offline(st, id).await? {
        return Err(Error::sender_offline());
    }
    Ok(sender)
}

pub async fn send_freeform(State(st): State<AppState>, body: Bytes) -> Result<Json<Value>, Error> {
    let f = Fields::parse(&body)?;
    let sender_id = f.int("sender_id")?;
    let contact = recipient(&f)?;
    let message = f.str("message")?;
    if crate::domain::limits::is_blank(message) {
        return Err(Error::field("message", "message must not be empty"));
    }
    if let Some(why) = crate::domain::limits::text_control_problem(message) {
        return Err(Error::field("message", format!("message {why}")));
    }
    if chars(message) > MAX_TEXT {
        return Err(Error::field(
            "message",
            format!(
                "message must be at most {MAX_TEXT} characters, got {}",
                chars(message)
            ),
        ));
    }
    let sender = online_sender(&st, sender_id).await?;
    let conversation = st
        .store
        .find_conversation(sender_id, &contact.key())
        .await?;
    let window = window_of(&st, conversation.as_ref()).await?;
    let (Some(conversation), true) = (conversation, window.is_open) else {
        return Err(Error::session_expired(session_status(&window)));
    };
    let to = address(&st, &contact, conversation.contact_id).await?;
    let content = OutboundContent::Text {
        body: message.to_string(),
        preview_url: false,
    };
    let (cost, _) = outbox::price(&st, Some(&conversation), &to, &content);
    if outbox::over_budget(&st, sender, cost.price_micros).await? {
        return Err(Error::insufficient_balance());
    }
    let id = outbox::enqueue(
        &st,
        sender_id,
        &conversation,
        OutboundMessage {
            to,
            content,
            trace: crate::telemetry::active().map(|a| a.parent),
        },
    )
    .await?;
    Ok(accepted(
        conversation.id,
        id,
        "session_status",
        json!(session_status(&window)),
    ))
}

/// `variables` as placeholder name → text. Each must be a string with something in it:
/// Meta refuses a template whose parameter is empty, after Parley accepted the request.
fn variables(f: &Fields) -> Result<BTreeMap<String, String>, Error> {
    let Some(obj) = f.opt_object("variables")? else {
        return Ok(BTreeMap::new());
    };
    obj.0
        .iter()
        .map(|(k, v)| {
            let field = format!("variables.{k}");
            match v {
                Value::String(s) if crate::domain::limits::is_blank(s) => Err(Error::field(
                    &field,
                    format!("{field} is empty: every template variable needs a value"),
                )),
                Value::String(s) => match crate::domain::limits::template_parameter_problem(s) {
                    Some(why) => Err(Error::field(&field, format!("{field} {why}"))),
                    None => Ok((k.clone(), s.clone())),
                },
                _ => Err(Error::field(&field, format!("{field} must be a string"))),
            }
        })
        .collect()
}

/// The template's placeholders must be exactly the keys given.
fn check_variables(t: &TemplateConfig, vars: &BTreeMap<String, String>) -> Result<(), Error> {
    let wanted = t.placeholders();
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|p| !vars.contains_key(*p))
        .map(String::as_str)
        .collect();
    let unknown: Vec<&str> = vars
        .keys()
        .filter(|k| !wanted.contains(k))
        .map(String::as_str)
        .collect();
    if missing.is_empty() && unknown.is_empty() {
        return Ok(());
    }
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing {}", missing.join(", ")));
    }
    if !unknown.is_empty() {
        parts.push(format!("not in the template: {}", unknown.join(", ")));
    }
    Err(Error::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "TEMPLATE_VARIABLES_MISMATCH",
        format!(
            "variables do not match the placeholders of template {} ({}): {}",
            t.name,
            if wanted.is_empty() {
                "none".to_string()
            } else {
                wanted.join(", ")
            },
            parts.join("; ")
        ),
    )
    .with_field("variables"))
}

pub async fn send_template(State(st): State<AppState>, body: Bytes) -> Result<Json<Value>, Error> {
    let f = Fields::parse(&body)?;
    let sender_id = f.int("sender_id")?;
    let template_id = f.int("template_id")?;
    let contact = recipient(&f)?;
    let name = f
        .opt_label("recipient_name")?
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if let Some(n) = name {
        if chars(n) > MAX_NAME {
            return Err(Error::field(
                "recipient_name",
                format!(
                    "recipient_name must be at most {MAX_NAME} characters, got {}",
                    chars(n)
                ),
            ));
        }
    }
    let vars = variables(&f)?;
    let sender = outbox::sender(&st, sender_id).ok_or_else(Error::sender_not_found)?;
    let template = st
        .config
        .templates
        .iter()
        .find(|t| t.id == template_id)
        .ok_or_else(|| {
            Error::new(
                StatusCode::NOT_FOUND,
                "TEMPLATE_NOT_FOUND",
                format!("Template {template_id} not found"),
            )
        })?;
    if template.status != TemplateStatus::Approved {
        return Err(Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "TEMPLATE_NOT_APPROVED",
            format!(
                "Template is not approved. Current status: {}",
                template.status.as_str()
            ),
        ));
    }
    check_variables(template, &vars)?;
    // Twilio sends a template only by its Content SID: without one the send can only fail,
    // so it is refused now rather than answered "queued".
    if sender.channel == crate::config::ChannelKind::Twilio
        && template
            .twilio_content_sid
            .as_deref()
            .is_none_or(|sid| sid.trim().is_empty())
    {
        return Err(Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "TEMPLATE_NOT_APPROVED",
            format!(
                "Template {template_id} has no twilio_content_sid, and sender {} is a Twilio sender, which sends templates only by their Content SID (HX…): add `twilio_content_sid` to the template in the config",
                sender.id
            ),
        ));
    }
    online_sender(&st, sender.id).await?;
    let content = OutboundContent::Template(TemplateMessage {
        name: template.name.clone(),
        language: template.language.clone(),
        variables: vars,
        quick_reply_payloads: Vec::new(),
        content_sid: template.twilio_content_sid.clone(),
    });
    if sender.spend_limit.is_some() {
        // Priced before anything is written: a refused send changes nothing.
        let known = st
            .store
            .find_conversation(sender.id, &contact.key())
            .await?;
        let (cost, _) = outbox::price(&st, known.as_ref(), &contact, &content);
        if outbox::over_budget(&st, sender, cost.price_micros).await? {
            return Err(Error::insufficient_balance());
        }
    }
    let conversation = st
        .store
        .ensure_conversation(sender.id, &contact, name, st.clock.now())
        .await?;
    let to = address(&st, &contact, conversation.contact_id).await?;
    let id = outbox::enqueue(
        &st,
        sender.id,
        &conversation,
        OutboundMessage {
            to,
            content,
            trace: crate::telemetry::active().map(|a| a.parent),
        },
    )
    .await?;
    Ok(accepted(conversation.id, id, "status", json!("queued")))
}

/// The answer to an accepted send: the ids Autocalls' API returns (one outbound record is
/// both the conversation message and the WhatsApp message), and one field of its own.
fn accepted(
    conversation_id: crate::domain::Id,
    id: crate::domain::Id,
    key: &str,
    value: Value,
) -> Json<Value> {
    let mut body = json!({
        "success": true,
        "conversation_id": conversation_id,
        "message_id": id,
        "whatsapp_message_id": id,
        "message_sid": parley_message_id(id),
    });
    body[key] = value;
    Json(body)
}
