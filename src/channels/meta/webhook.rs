//! Meta webhook POST bodies turned into canonical `Routed` items, each keyed by the
//! `metadata.phone_number_id` it arrived for; plus, re-exported, the signature and handshake
//! checks that guard the endpoint.
//!
//! Parsing is strict about the envelope and lenient about everything Meta may add later:
//! changes that are not about messages, message types and status values Parley does not
//! handle are skipped (logged at debug), and one message with an unusable sender is skipped
//! (logged at warn) without failing the rest of the batch. Only a body that is not JSON, or
//! lacks the structure every notification has, is an error.

use super::wire;
use crate::domain::form;
use crate::domain::{
    ContactRef, DeliveryStatus, InboundContent, InboundMessage, MediaKind, PhoneNumber,
    ProviderError, Referral, ReplyContext, RouteKey, Routed, StatusUpdate, WebhookItem,
};
use crate::metrics as m;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

pub use super::signature::{verify_handshake, verify_signature};

/// The only `object` Parley handles; others (pages, Instagram) are acknowledged and dropped.
const WHATSAPP_OBJECT: &str = "whatsapp_business_account";

#[derive(Debug, thiserror::Error)]
pub enum MetaWebhookError {
    #[error("body is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
}

/// Turns a webhook POST body into messages and statuses, in the order Meta listed them.
/// Check the signature first: this trusts the body.
///
/// Only a body that is not JSON is an error. Every change, message and status is read on
/// its own: one Parley cannot understand is logged at WARN and counted in
/// `parley_webhook_items_unparsed_total`; a message among them that still has an id and a
/// sender is kept as `Unsupported` (stored, so the flow and the operator see it), and the
/// rest of the batch is unaffected. Refusing the body would make Meta retry it for days
/// and then disable the webhook, losing every valid message beside the odd one.
pub fn parse(body: &[u8]) -> Result<Vec<Routed>, MetaWebhookError> {
    let root: Value = serde_json::from_slice(body).map_err(MetaWebhookError::NotJson)?;
    let mut items = Vec::new();
    let Some(object) = root.get("object").and_then(Value::as_str) else {
        unparsed("notification", "(root)", "no `object` string");
        return Ok(items);
    };
    if object != WHATSAPP_OBJECT {
        tracing::debug!(object, "ignoring Meta webhook for another product");
        return Ok(items);
    }
    let Some(entries) = root.get("entry").and_then(Value::as_array) else {
        unparsed("notification", "entry", "`entry` is not a list");
        return Ok(items);
    };
    for (i, entry) in entries.iter().enumerate() {
        let changes = match entry.get("changes") {
            Some(Value::Array(changes)) => changes.as_slice(),
            None | Some(Value::Null) => &[],
            Some(_) => {
                unparsed("change", &format!("entry[{i}].changes"), "not a list");
                continue;
            }
        };
        for (j, change) in changes.iter().enumerate() {
            let at = format!("entry[{i}].changes[{j}]");
            match change.get("field").and_then(Value::as_str) {
                Some("messages") => {}
                Some(field) => {
                    tracing::debug!(
                        field,
                        "ignoring Meta webhook change that is not about messages"
                    );
                    continue;
                }
                None => {
                    unparsed("change", &at, "no `field` string");
                    continue;
                }
            }
            match change.get("value") {
                Some(value @ Value::Object(_)) => {
                    collect(&format!("{at}.value"), value, &mut items)
                }
                _ => unparsed("change", &at, "no `value` object"),
            }
        }
    }
    Ok(items)
}

/// Logs and counts one part of a body that was skipped because it could not be read.
fn unparsed(kind: &'static str, at: &str, reason: &str) {
    metrics::counter!(m::WEBHOOK_ITEMS_UNPARSED, "provider" => "meta", "kind" => kind).increment(1);
    tracing::warn!(provider = "meta", kind, at, reason, "part of a Meta webhook could not be read; acknowledged, the rest of the batch is processed");
}

/// Deserializes one part of the body, naming the path inside it on failure.
fn typed<'a, T: Deserialize<'a>>(value: &'a Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.into_inner().to_string()
        } else {
            format!("at `{path}`: {}", e.into_inner())
        }
    })
}

fn collect(at: &str, value: &Value, items: &mut Vec<Routed>) {
    let Some(phone_number_id) = value
        .get("metadata")
        .and_then(|m| m.get("phone_number_id"))
        .and_then(Value::as_str)
    else {
        // Without it nothing in the change can be routed to a sender.
        unparsed("change", at, "no `metadata.phone_number_id` string");
        return;
    };
    let route = RouteKey::MetaPhoneNumberId(phone_number_id.to_string());
    let list = |name: &str| match value.get(name) {
        Some(Value::Array(list)) => list.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => {
            unparsed("change", &format!("{at}.{name}"), "not a list");
            &[]
        }
    };
    let contacts: Vec<wire::Contact> = list("contacts")
        .iter()
        .filter_map(|c| typed(c).ok())
        .collect();
    let messages = list("messages");
    // One contact and one message belong together, so the profile name is kept even if
    // the two ids were ever spelled differently.
    let lone_pair = contacts.len() == 1 && messages.len() == 1;
    for (k, raw) in messages.iter().enumerate() {
        let at = format!("{at}.messages[{k}]");
        let message = match typed::<wire::Message>(raw) {
            Ok(message) => {
                let contact =
                    contact_of(&contacts, &message).or(contacts.first().filter(|_| lone_pair));
                inbound_message(&at, message, contact)
            }
            Err(reason) => unreadable_message(&at, raw, &reason),
        };
        if let Some(message) = message {
            items.push(Routed {
                route: route.clone(),
                item: WebhookItem::Message(message),
            });
        }
    }
    for (k, raw) in list("statuses").iter().enumerate() {
        let status = match typed::<wire::Status>(raw) {
            Ok(status) => status_update(status),
            Err(reason) => {
                unparsed("status", &format!("{at}.statuses[{k}]"), &reason);
                None
            }
        };
        if let Some(status) = status {
            items.push(Routed {
                route: route.clone(),
                item: WebhookItem::Status(status),
            });
        }
    }
}

/// A message whose shape Parley cannot read: kept as `Unsupported` when it still has an id
/// and a sender (so it is stored, deduplicated and visible), otherwise only logged.
fn unreadable_message(at: &str, raw: &Value, reason: &str) -> Option<InboundMessage> {
    unparsed("message", at, reason);
    let text = |name: &str| raw.get(name).and_then(Value::as_str).map(str::to_string);
    let id = text("id").filter(|id| !id.trim().is_empty())?;
    let message = wire::Message {
        id,
        kind: text("type").unwrap_or_default(),
        from: text("from"),
        from_user_id: text("from_user_id"),
        timestamp: raw.get("timestamp").and_then(|t| typed(t).ok()),
        context: None,
        referral: None,
        errors: Vec::new(),
        text: None,
        image: None,
        video: None,
        audio: None,
        document: None,
        sticker: None,
        location: None,
        interactive: None,
        button: None,
        reaction: None,
        unsupported: None,
    };
    let from = sender(&message)?;
    Some(InboundMessage {
        provider_message_id: message.id,
        from,
        profile_name: None,
        username: None,
        timestamp: timestamp(message.timestamp.as_ref()),
        content: InboundContent::Unsupported {
            original_type: Some(message.kind).filter(|k| !k.is_empty()),
            errors: errors_of(raw),
        },
        context: None,
        referral: None,
    })
}

/// The `errors` of a message, each read on its own.
fn errors_of(raw: &Value) -> Vec<ProviderError> {
    raw.get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| typed::<wire::Error>(e).ok())
                .map(provider_error)
                .collect()
        })
        .unwrap_or_default()
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The `contacts[]` entry describing a message's sender: by phone (`wa_id`) or by
/// business-scoped id (`user_id`).
fn contact_of<'a>(
    contacts: &'a [wire::Contact],
    message: &wire::Message,
) -> Option<&'a wire::Contact> {
    contacts
        .iter()
        .find(|c| same_id(&c.wa_id, &message.from) || same_id(&c.user_id, &message.from_user_id))
}

/// Both present, non-empty and equal: two empty `wa_id`/`from` do not make a match.
fn same_id(a: &Option<String>, b: &Option<String>) -> bool {
    matches!((non_empty(a), non_empty(b)), (Some(a), Some(b)) if a == b)
}

/// Phone number when Meta gives one (they stay the contact key where known); otherwise the
/// business-scoped user id of someone who hides their number.
fn sender(message: &wire::Message) -> Option<ContactRef> {
    match (non_empty(&message.from), non_empty(&message.from_user_id)) {
        (Some(from), _) => match PhoneNumber::parse(from) {
            Ok(phone) => Some(ContactRef::Phone(phone)),
            Err(error) => {
                tracing::warn!(message_id = %message.id, %error, "skipping Meta message whose sender is not a phone number");
                None
            }
        },
        (None, Some(user_id)) => Some(ContactRef::BusinessScoped(user_id.to_string())),
        (None, None) => {
            tracing::warn!(message_id = %message.id, "skipping Meta message without a sender");
            None
        }
    }
}

fn inbound_message(
    at: &str,
    mut message: wire::Message,
    contact: Option<&wire::Contact>,
) -> Option<InboundMessage> {
    let content = match content(&mut message) {
        Ok(content) => content?,
        // Meta's own "unsupported payload" form: `type: interactive` with no `interactive`
        // object and an `errors` array; also any type whose object is missing.
        Err(reason) => {
            unparsed("message", at, &reason);
            InboundContent::Unsupported {
                original_type: Some(message.kind.clone()),
                errors: message.errors.drain(..).map(provider_error).collect(),
            }
        }
    };
    let from = sender(&message)?;
    let profile = contact.and_then(|c| c.profile.as_ref());
    Some(InboundMessage {
        provider_message_id: message.id,
        from,
        profile_name: profile.and_then(|p| p.name.clone()),
        username: profile.and_then(|p| p.username.clone()),
        timestamp: timestamp(message.timestamp.as_ref()),
        content,
        context: message.context.and_then(|c| {
            c.id.map(|id| ReplyContext {
                message_id: id,
                from: c.from,
            })
        }),
        referral: message.referral.map(|r| Referral {
            source_url: r.source_url,
            source_id: r.source_id,
            source_type: r.source_type,
            headline: r.headline,
            body: r.body,
            ctwa_clid: r.ctwa_clid,
        }),
    })
}

/// The message's content, `None` for types Parley does not handle; `Err` says what is
/// missing from a type Parley does handle.
fn content(m: &mut wire::Message) -> Result<Option<InboundContent>, String> {
    let missing = || format!("type `{}` but no complete `{}` object", m.kind, m.kind);
    let content = match m.kind.as_str() {
        "text" => InboundContent::Text {
            body: m.text.take().ok_or_else(missing)?.body,
        },
        kind @ ("image" | "video" | "audio" | "document" | "sticker") => {
            let (media, wire) = match kind {
                "image" => (MediaKind::Image, m.image.take()),
                "video" => (MediaKind::Video, m.video.take()),
                "audio" => (MediaKind::Audio, m.audio.take()),
                "document" => (MediaKind::Document, m.document.take()),
                _ => (MediaKind::Sticker, m.sticker.take()),
            };
            let wire = wire.ok_or_else(missing)?;
            InboundContent::Media {
                media,
                media_id: wire.id,
                url: wire.url,
                mime_type: wire.mime_type,
                sha256: wire.sha256,
                caption: wire.caption,
                filename: wire.filename,
                voice: wire.voice,
            }
        }
        "location" => {
            let l = m.location.take().ok_or_else(missing)?;
            InboundContent::Location {
                latitude: l.latitude,
                longitude: l.longitude,
                name: l.name,
                address: l.address,
                url: l.url,
            }
        }
        "interactive" => {
            let i = m.interactive.take().ok_or_else(missing)?;
            match i.kind.as_str() {
                "button_reply" => {
                    let b = i.button_reply.ok_or_else(missing)?;
                    InboundContent::ButtonReply {
                        id: b.id,
                        title: b.title,
                    }
                }
                "list_reply" => {
                    let l = i.list_reply.ok_or_else(missing)?;
                    InboundContent::ListReply {
                        id: l.id,
                        title: l.title,
                        description: l.description,
                    }
                }
                "nfm_reply" => nfm_reply(i.nfm_reply.ok_or_else(missing)?)?,
                other => {
                    tracing::debug!(message_id = %m.id, interactive_type = other, "ignoring Meta interactive reply of an unhandled type");
                    return Ok(None);
                }
            }
        }
        "button" => {
            let b = m.button.take().ok_or_else(missing)?;
            InboundContent::QuickReply {
                payload: b.payload,
                text: b.text,
            }
        }
        "reaction" => {
            let r = m.reaction.take().ok_or_else(missing)?;
            InboundContent::Reaction {
                message_id: r.message_id,
                // Meta sends an empty emoji when the customer removes their reaction.
                emoji: r.emoji.filter(|e| !e.is_empty()),
            }
        }
        // `unknown` is what Meta called `unsupported` before webhooks v17.
        "unsupported" | "unknown" => InboundContent::Unsupported {
            original_type: m.unsupported.take().and_then(|u| u.kind),
            errors: m.errors.drain(..).map(provider_error).collect(),
        },
        other => {
            tracing::debug!(message_id = %m.id, message_type = other, "ignoring Meta message of an unhandled type");
            return Ok(None);
        }
    };
    Ok(Some(content))
}

/// A submitted form: a WhatsApp Flow (`name: flow`, or no name as in older payloads) or
/// the address form (`address_message`). `Err` (kept as unsupported) when its
/// `response_json` cannot be read within bounds.
fn nfm_reply(reply: wire::NfmReply) -> Result<InboundContent, String> {
    let name = reply.name.as_deref().unwrap_or("flow");
    let unreadable = |e: crate::domain::form::FormReplyError| format!("`nfm_reply` ({name}): {e}");
    match name {
        "address_message" => {
            let (values, saved_address_id) =
                form::parse_address_response(&reply.response_json).map_err(unreadable)?;
            Ok(InboundContent::AddressReply {
                values,
                saved_address_id,
            })
        }
        _ => {
            let (token, response) =
                form::parse_form_response(&reply.response_json).map_err(unreadable)?;
            Ok(InboundContent::FormReply { token, response })
        }
    }
}

fn status_update(s: wire::Status) -> Option<StatusUpdate> {
    // Matched by hand: `DeliveryStatus::parse` also knows Parley's own states, which Meta
    // never sends and must not be able to inject.
    let status = match s.status.as_str() {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        other => {
            tracing::debug!(message_id = %s.id, status = other, "ignoring Meta status of an unhandled kind");
            return None;
        }
    };
    let recipient = non_empty(&s.recipient_id)
        .or(non_empty(&s.recipient_user_id))
        .map(str::to_string);
    Some(StatusUpdate {
        timestamp: timestamp(s.timestamp.as_ref()),
        error: s.errors.into_iter().next().map(provider_error),
        provider_message_id: s.id,
        status,
        recipient,
        outbox_id: s
            .biz_opaque_callback_data
            .as_deref()
            .and_then(crate::domain::outbox_reference_id),
    })
}

fn provider_error(e: wire::Error) -> ProviderError {
    ProviderError {
        code: e.code,
        title: e
            .title
            .or(e.message)
            .unwrap_or_else(|| format!("Meta error {}", e.code)),
        details: e.error_data.and_then(|d| d.details),
    }
}

fn timestamp(t: Option<&wire::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(wire::Timestamp::unix_seconds)
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
}

#[cfg(test)]
mod tests;
