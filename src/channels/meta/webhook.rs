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
use crate::domain::{
    ContactRef, DeliveryStatus, InboundContent, InboundMessage, MediaKind, PhoneNumber,
    ProviderError, Referral, ReplyContext, RouteKey, Routed, StatusUpdate, WebhookItem,
};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

pub use super::signature::{verify_handshake, verify_signature};

/// The only `object` Parley handles; others (pages, Instagram) are acknowledged and dropped.
const WHATSAPP_OBJECT: &str = "whatsapp_business_account";

#[derive(Debug, thiserror::Error)]
pub enum MetaWebhookError {
    #[error("body is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("malformed Meta notification at `{path}`: {source}")]
    Malformed {
        /// Where in the body the problem is, e.g. `entry[0].changes[0].value.metadata`.
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("message {message_id} has type `{kind}` but no `{kind}` object")]
    MissingContent { message_id: String, kind: String },
}

/// Turns a webhook POST body into messages and statuses, in the order Meta listed them.
/// Check the signature first: this trusts the body.
pub fn parse(body: &[u8]) -> Result<Vec<Routed>, MetaWebhookError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let notification: wire::Notification =
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            if e.inner().is_syntax() || e.inner().is_eof() {
                MetaWebhookError::NotJson(e.into_inner())
            } else {
                malformed("", e.path().to_string(), e.into_inner())
            }
        })?;
    de.end().map_err(MetaWebhookError::NotJson)?;
    if notification.object != WHATSAPP_OBJECT {
        tracing::debug!(object = %notification.object, "ignoring Meta webhook for another product");
        return Ok(Vec::new());
    }
    let entries: Vec<wire::Entry> = typed("entry", notification.entry)?;
    let mut items = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        for (j, change) in entry.changes.into_iter().enumerate() {
            if change.field != "messages" {
                tracing::debug!(field = %change.field, "ignoring Meta webhook change that is not about messages");
                continue;
            }
            let value: wire::MessagesValue =
                typed(&format!("entry[{i}].changes[{j}].value"), change.value)?;
            collect(value, &mut items)?;
        }
    }
    Ok(items)
}

/// Deserializes a part of the body kept as a `Value`, naming the full path on failure.
fn typed<T: DeserializeOwned>(at: &str, value: serde_json::Value) -> Result<T, MetaWebhookError> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| malformed(at, e.path().to_string(), e.into_inner()))
}

fn malformed(prefix: &str, inner: String, source: serde_json::Error) -> MetaWebhookError {
    let inner = if inner == "." { String::new() } else { inner };
    let path = match (prefix.is_empty(), inner.is_empty()) {
        (true, true) => "(root)".to_string(),
        (true, false) => inner,
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{inner}"),
    };
    MetaWebhookError::Malformed { path, source }
}

fn collect(value: wire::MessagesValue, items: &mut Vec<Routed>) -> Result<(), MetaWebhookError> {
    let wire::MessagesValue {
        metadata,
        contacts,
        messages,
        statuses,
    } = value;
    let route = RouteKey::MetaPhoneNumberId(metadata.phone_number_id);
    // One contact and one message belong together, so the profile name is kept even if
    // the two ids were ever spelled differently.
    let lone_pair = contacts.len() == 1 && messages.len() == 1;
    for message in messages {
        let contact = contact_of(&contacts, &message).or(contacts.first().filter(|_| lone_pair));
        if let Some(message) = inbound_message(message, contact)? {
            items.push(Routed {
                route: route.clone(),
                item: WebhookItem::Message(message),
            });
        }
    }
    for status in statuses {
        if let Some(status) = status_update(status) {
            items.push(Routed {
                route: route.clone(),
                item: WebhookItem::Status(status),
            });
        }
    }
    Ok(())
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
    mut message: wire::Message,
    contact: Option<&wire::Contact>,
) -> Result<Option<InboundMessage>, MetaWebhookError> {
    let Some(content) = content(&mut message)? else {
        return Ok(None);
    };
    let Some(from) = sender(&message) else {
        return Ok(None);
    };
    let profile = contact.and_then(|c| c.profile.as_ref());
    Ok(Some(InboundMessage {
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
    }))
}

/// The message's content, `None` for types Parley does not handle.
fn content(m: &mut wire::Message) -> Result<Option<InboundContent>, MetaWebhookError> {
    let missing = || MetaWebhookError::MissingContent {
        message_id: m.id.clone(),
        kind: m.kind.clone(),
    };
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
