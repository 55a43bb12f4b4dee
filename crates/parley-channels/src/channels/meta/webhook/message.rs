//! One entry of a `messages` change, as Parley keeps it: the message and its content, the
//! customer who sent it (phone, user id, a changed identity), and statuses with their
//! pricing and errors.

use super::*;

/// One message of a `messages` change as an item: a system message changes the
/// customer's identity, any other is an inbound message from the sender `contacts` names
/// (or the lone contact, when the change holds one contact and one message).
pub(super) fn message_item(
    at: &str,
    message: wire::Message,
    contacts: &[wire::Contact],
    lone_pair: bool,
) -> Option<WebhookItem> {
    if message.kind == "system" {
        return identity_change(at, &message).map(WebhookItem::IdentityChange);
    }
    let contact = contact_of(contacts, &message).or(contacts.first().filter(|_| lone_pair));
    inbound_message(at, message, contact).map(WebhookItem::Message)
}

/// A message whose shape Parley cannot read: kept as `Unsupported` when it still has an id
/// and a sender (so it is stored, deduplicated and visible), otherwise only logged.
pub(super) fn unreadable_message(at: &str, raw: &Value, reason: &str) -> Option<InboundMessage> {
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
        order: None,
        contacts: None,
        to: None,
        to_user_id: None,
        history_context: None,
        system: None,
    };
    let from = sender(&message, None)?;
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
pub(super) fn errors_of(raw: &Value) -> Vec<ProviderError> {
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

pub(super) fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The `contacts[]` entry describing a message's sender: by phone (`wa_id`) or by
/// business-scoped id (`user_id`).
pub(super) fn contact_of<'a>(
    contacts: &'a [wire::Contact],
    message: &wire::Message,
) -> Option<&'a wire::Contact> {
    contacts
        .iter()
        .find(|c| same_id(&c.wa_id, &message.from) || same_id(&c.user_id, &message.from_user_id))
}

/// Both present, non-empty and equal: two empty `wa_id`/`from` do not make a match.
pub(super) fn same_id(a: &Option<String>, b: &Option<String>) -> bool {
    matches!((non_empty(a), non_empty(b)), (Some(a), Some(b)) if a == b)
}

/// Who sent a message: the phone (`from`) and the business-scoped user id
/// (`from_user_id`), each taken from the matching `contacts[]` entry (`wa_id`, `user_id`)
/// when the message lacks it; both when both are known. Since 2026 a user who hides their
/// number may come with a BSUID only, in the message or only in `contacts[].user_id`.
pub(super) fn sender(
    message: &wire::Message,
    contact: Option<&wire::Contact>,
) -> Option<ContactRef> {
    let phone = non_empty(&message.from).or(contact.and_then(|c| non_empty(&c.wa_id)));
    let user_id = non_empty(&message.from_user_id).or(contact.and_then(|c| non_empty(&c.user_id)));
    identified(&message.id, phone, user_id)
}

/// The customer named by a phone (`wa_id`) and/or a business-scoped user id: an echo's or
/// a history message's recipient, a caller.
pub(super) fn customer(
    id: &str,
    phone: &Option<String>,
    user_id: &Option<String>,
) -> Option<ContactRef> {
    identified(id, non_empty(phone), non_empty(user_id))
}

pub(super) fn identified(
    id: &str,
    phone: Option<&str>,
    user_id: Option<&str>,
) -> Option<ContactRef> {
    let phone = match phone.map(PhoneNumber::parse) {
        Some(Ok(phone)) => Some(phone),
        Some(Err(error)) => {
            metrics::counter!(m::WEBHOOK_ITEMS_UNPARSED, "provider" => "meta", "kind" => "message")
                .increment(1);
            tracing::warn!(message_id = %id, %error, "skipping Meta message whose customer is not a phone number");
            return None;
        }
        None => None,
    };
    let user_id = user_id.filter(|id| is_user_id(id)).map(str::to_string);
    let from = ContactRef::from_parts(phone, user_id);
    if from.is_none() {
        metrics::counter!(m::WEBHOOK_ITEMS_UNPARSED, "provider" => "meta", "kind" => "message")
            .increment(1);
        tracing::warn!(message_id = %id, "skipping Meta message without a customer");
    }
    from
}

/// A `system` message about a changed number or business-scoped user id. `from` and
/// `from_user_id` name the customer as they were; `system.wa_id` and `system.user_id` as
/// they are now.
pub(super) fn identity_change(at: &str, message: &wire::Message) -> Option<IdentityChange> {
    let Some(system) = &message.system else {
        unparsed("message", at, "type `system` but no `system` object");
        return None;
    };
    let kind = match system.kind.as_deref() {
        Some("user_changed_number" | "customer_changed_number") => {
            IdentityChangeKind::ChangedNumber
        }
        Some("user_changed_user_id") => IdentityChangeKind::ChangedUserId,
        other => {
            tracing::debug!(message_id = %message.id, system_type = ?other, "ignoring Meta system message of an unhandled type");
            dropped(
                "meta",
                "messages",
                "system",
                "a system message that is neither a changed number nor a changed user id",
            );
            return None;
        }
    };
    // Read without counting: a side that cannot be read is counted once, below, as the
    // one unreadable item this message is (`sender` would count it a second time).
    let previous = ContactRef::from_parts(
        non_empty(&message.from).and_then(|p| PhoneNumber::parse(p).ok()),
        non_empty(&message.from_user_id)
            .filter(|id| is_user_id(id))
            .map(str::to_string),
    )
    .or_else(|| {
        non_empty(&system.previous_user_id)
            .filter(|id| is_user_id(id))
            .map(|id| ContactRef::BusinessScoped(id.to_string()))
    });
    let new_phone = non_empty(&system.wa_id).and_then(|p| PhoneNumber::parse(p).ok());
    let new_user_id = non_empty(&system.user_id)
        .filter(|id| is_user_id(id))
        .map(str::to_string);
    let current = ContactRef::from_parts(new_phone, new_user_id);
    match (previous, current) {
        (Some(previous), Some(current)) => Some(IdentityChange {
            previous,
            current,
            kind,
            timestamp: timestamp(message.timestamp.as_ref()),
        }),
        // Before Meta's changelog of 2026-08-11 `user_changed_user_id` named only the new
        // id (the old one came in a `user_id_update` change); now `previous_user_id` does.
        _ => {
            unparsed(
                "message",
                at,
                "a system message that names only one side of an identity change",
            );
            None
        }
    }
}

/// A `user_id_update` entry: the BSUID `previous` is now `current` (with the phone, when
/// Meta may share it).
pub(super) fn user_id_update(update: wire::UserIdUpdate) -> Option<IdentityChange> {
    let (previous, current) = (update.user_id.previous, update.user_id.current);
    if !is_user_id(&previous) || !is_user_id(&current) {
        unparsed("user_id_update", "user_id", "not a business-scoped user id");
        return None;
    }
    let phone = non_empty(&update.wa_id).and_then(|p| PhoneNumber::parse(p).ok());
    Some(IdentityChange {
        previous: ContactRef::BusinessScoped(previous),
        current: ContactRef::from_parts(phone, Some(current))?,
        kind: IdentityChangeKind::ChangedUserId,
        timestamp: timestamp(update.timestamp.as_ref()),
    })
}

pub(super) fn inbound_message(
    at: &str,
    mut message: wire::Message,
    contact: Option<&wire::Contact>,
) -> Option<InboundMessage> {
    let content = match content("messages", &mut message) {
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
    let from = sender(&message, contact)?;
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

/// The message's content, `None` for types Parley drops (counted as dropped under `field`);
/// `Err` says what is missing from a type Parley does handle.
pub(super) fn content(
    field: &str,
    m: &mut wire::Message,
) -> Result<Option<InboundContent>, String> {
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
                    dropped(
                        "meta",
                        field,
                        other,
                        "an interactive reply of a kind Parley does not read",
                    );
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
        "order" => {
            let o = m.order.take().ok_or_else(missing)?;
            InboundContent::Order {
                catalog_id: o.catalog_id.map(bounded),
                text: o.text.map(bounded),
                items: o
                    .product_items
                    .into_iter()
                    .take(ORDER_ITEMS_MAX)
                    .map(|i| OrderItem {
                        product_retailer_id: bounded(i.product_retailer_id),
                        quantity: i.quantity,
                        item_price: i.item_price,
                        currency: bounded(i.currency),
                    })
                    .collect(),
            }
        }
        "contacts" => {
            let cards = match m.contacts.take() {
                Some(Value::Array(cards)) => cards,
                _ => return Err(missing()),
            };
            InboundContent::Contacts {
                contacts: cards
                    .iter()
                    .take(SHARED_CONTACTS_MAX)
                    .filter_map(|c| typed::<wire::SharedContact>(c).ok())
                    .map(shared_contact)
                    .collect(),
            }
        }
        "request_welcome" => InboundContent::RequestWelcome,
        other => {
            dropped("meta", field, other, "a message type Parley does not read");
            return Ok(None);
        }
    };
    Ok(Some(content))
}

/// Cuts a text from a webhook to `INBOUND_FIELD_MAX` characters.
pub(super) fn bounded(s: String) -> String {
    match s.char_indices().nth(INBOUND_FIELD_MAX) {
        Some((end, _)) => s[..end].to_string(),
        None => s,
    }
}

pub(super) fn shared_contact(c: wire::SharedContact) -> SharedContact {
    let name = c.name.and_then(|n| {
        n.formatted_name
            .filter(|f| !f.trim().is_empty())
            .or_else(|| {
                let parts: Vec<String> =
                    [n.first_name, n.last_name].into_iter().flatten().collect();
                Some(parts.join(" ")).filter(|p| !p.trim().is_empty())
            })
    });
    let few = |v: Vec<Option<String>>| -> Vec<String> {
        v.into_iter()
            .flatten()
            .filter(|s| !s.trim().is_empty())
            .take(SHARED_CONTACT_FIELDS_MAX)
            .map(bounded)
            .collect()
    };
    SharedContact {
        name: name.map(bounded),
        wa_ids: few(c.phones.iter().map(|p| p.wa_id.clone()).collect()),
        phones: few(c.phones.into_iter().map(|p| p.phone).collect()),
        emails: few(c.emails.into_iter().map(|e| e.email).collect()),
    }
}

/// A submitted form: a WhatsApp Flow (`name: flow`, or no name as in older payloads) or
/// the address form (`address_message`). `Err` (kept as unsupported) when its
/// `response_json` cannot be read within bounds.
pub(super) fn nfm_reply(reply: wire::NfmReply) -> Result<InboundContent, String> {
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

pub(super) fn status_update(s: wire::Status) -> Option<StatusUpdate> {
    // Matched by hand: `DeliveryStatus::parse` also knows Parley's own states, which Meta
    // never sends and must not be able to inject.
    let status = match s.status.as_str() {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        other => {
            dropped(
                "meta",
                "statuses",
                other,
                "a delivery status Parley does not act on",
            );
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
        pricing: s.pricing.map(pricing),
    })
}

/// Meta's words are kept as they came, cut to a sane length (they are short names).
pub(super) fn pricing(p: wire::Pricing) -> crate::domain::pricing::StatusPricing {
    let word = |w: Option<String>| {
        w.map(|w| {
            w.chars()
                .take(PRICING_WORD_MAX)
                .collect::<String>()
                .to_ascii_lowercase()
        })
    };
    crate::domain::pricing::StatusPricing {
        billable: p.billable,
        pricing_model: p
            .pricing_model
            .map(|m| m.chars().take(PRICING_WORD_MAX).collect()),
        category: word(p.category),
        kind: word(p.kind),
    }
}

const PRICING_WORD_MAX: usize = 64;

pub(super) fn provider_error(e: wire::Error) -> ProviderError {
    ProviderError {
        code: e.code,
        title: e
            .title
            .or(e.message)
            .unwrap_or_else(|| format!("Meta error {}", e.code)),
        details: e.error_data.and_then(|d| d.details),
    }
}

pub(super) fn timestamp(t: Option<&wire::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(wire::Timestamp::unix_seconds)
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
}
