//! Meta webhook POST bodies turned into canonical `Routed` items, each keyed by the
//! `metadata.phone_number_id` it arrived for; plus, re-exported, the signature and handshake
//! checks that guard the endpoint.
//!
//! Parsing is strict about the envelope and lenient about everything Meta may add later:
//! change fields, message types and status values Parley does not act on are dropped on
//! purpose (counted and logged once per kind, `channels::dropped`), and one message with an
//! unusable sender is skipped (logged at warn) without failing the rest of the batch. Only
//! a body that is not JSON, or lacks the structure every notification has, is an error.
//!
//! Fields read: `messages` (messages and statuses), and in `webhook/platform.rs` the
//! coexistence fields `smb_message_echoes` and `history` and the `calls` field.

use super::wire;
use crate::channels::dropped::dropped;
use crate::domain::form;
use crate::domain::limits::{
    INBOUND_FIELD_MAX, ORDER_ITEMS_MAX, SHARED_CONTACTS_MAX, SHARED_CONTACT_FIELDS_MAX,
};
use crate::domain::{
    is_user_id, ContactRef, DeliveryStatus, IdentityChange, IdentityChangeKind, InboundContent,
    InboundMessage, MediaKind, OrderItem, PhoneNumber, ProviderError, Referral, ReplyContext,
    RouteKey, Routed, SharedContact, StatusUpdate, WebhookItem,
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
    #[error("body is not JSON: it is not UTF-8 text ({0})")]
    NotUtf8(#[source] std::str::Utf8Error),
}

/// Turns a webhook POST body into messages and statuses, in the order Meta listed them.
/// Check the signature first: this trusts the body.
///
/// Only a body that is not JSON (not UTF-8 text, or not JSON's syntax) is an error; a body
/// whose numbers do not fit a double is acknowledged and counted as unparsed, its parts
/// Parley reads kept when they read. Every change, message and status is read on
/// its own: one Parley cannot understand is logged at WARN and counted in
/// `parley_webhook_items_unparsed_total`; a message among them that still has an id and a
/// sender is kept as `Unsupported` (stored, so the flow and the operator see it), and the
/// rest of the batch is unaffected. Refusing the body would make Meta retry it for days
/// and then disable the webhook, losing every valid message beside the odd one.
pub fn parse(body: &[u8]) -> Result<Vec<Routed>, MetaWebhookError> {
    // serde_json checks UTF-8 only where it reads a string; the one-pass reading skips the
    // fields Parley does not use, so the whole body is checked first (the same answer for
    // the same body whichever reading takes it).
    let body = std::str::from_utf8(body).map_err(MetaWebhookError::NotUtf8)?;
    if let Some(items) = messages_only(body) {
        return Ok(items);
    }
    parse_parts(body)
}

/// The shape of nearly every webhook: WhatsApp `messages` (or `user_id_update`) changes
/// whose every contact, message and status reads as Parley's types. Read in one pass
/// straight into those types, without the JSON tree `parse_parts` builds first (most of the
/// HTTP thread's own work per webhook, BENCHMARKS.md "Webhooks read in one pass"). Any
/// other body, or one part that does not read, gives `None` before anything is logged or
/// counted, and `parse_parts` reads it part by part; the items are the same either way
/// (tested on every fixture, and on every fixture with any one byte changed).
fn messages_only(body: &str) -> Option<Vec<Routed>> {
    let notification: fast::Notification = serde_json::from_str(body).ok()?;
    if notification.object != WHATSAPP_OBJECT {
        return None;
    }
    let mut items = Vec::new();
    for (i, entry) in notification.entry.into_iter().enumerate() {
        for (j, change) in entry.changes.into_iter().enumerate() {
            let at = format!("entry[{i}].changes[{j}].value");
            let fast::Change {
                field: fast::Field::Messages | fast::Field::UserIdUpdate,
                value:
                    fast::ChangeValue {
                        metadata,
                        contacts,
                        messages,
                        user_id_update: updates,
                        statuses,
                        errors,
                    },
            } = change;
            if errors.is_some() {
                return None;
            }
            let route = RouteKey::MetaPhoneNumberId(metadata.phone_number_id);
            let mut push = |item| {
                items.push(Routed {
                    route: route.clone(),
                    item,
                })
            };
            let lone_pair = contacts.len() == 1 && messages.len() == 1;
            for (k, message) in messages.into_iter().enumerate() {
                let at = format!("{at}.messages[{k}]");
                if let Some(item) = message_item(&at, message, &contacts, lone_pair) {
                    push(item);
                }
            }
            for update in updates {
                if let Some(change) = user_id_update(update) {
                    push(WebhookItem::IdentityChange(change));
                }
            }
            for status in statuses {
                if let Some(status) = status_update(status) {
                    push(WebhookItem::Status(status));
                }
            }
        }
    }
    Some(items)
}

/// The envelope of a webhook that carries only `messages` and `user_id_update` changes, for
/// `messages_only`. Unknown fields are ignored as everywhere in `wire`; a missing or null
/// list, another change field, or a part that does not read fails the whole, which
/// `parse_parts` then reads leniently.
mod fast {
    use super::wire;
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub(super) struct Notification {
        pub object: String,
        pub entry: Vec<Entry>,
    }

    #[derive(Deserialize)]
    pub(super) struct Entry {
        pub changes: Vec<Change>,
    }

    #[derive(Deserialize)]
    pub(super) struct Change {
        /// Read only to refuse every other field.
        pub field: Field,
        pub value: ChangeValue,
    }

    /// The change fields `parse_parts` reads as messages, statuses and identity updates.
    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub(super) enum Field {
        Messages,
        UserIdUpdate,
    }

    #[derive(Deserialize)]
    pub(super) struct ChangeValue {
        pub metadata: Metadata,
        #[serde(default)]
        pub contacts: Vec<wire::Contact>,
        #[serde(default)]
        pub messages: Vec<wire::Message>,
        #[serde(default)]
        pub user_id_update: Vec<wire::UserIdUpdate>,
        #[serde(default)]
        pub statuses: Vec<wire::Status>,
        /// Meta's errors about the change itself: read the part-by-part way, which
        /// reports them.
        #[serde(default)]
        pub errors: Option<serde::de::IgnoredAny>,
    }

    #[derive(Deserialize)]
    pub(super) struct Metadata {
        pub phone_number_id: String,
    }
}

/// `parse`, each change, message and status read on its own from the JSON tree.
fn parse_parts(body: &str) -> Result<Vec<Routed>, MetaWebhookError> {
    let mut items = Vec::new();
    let root: Value = match serde_json::from_str(body) {
        Ok(root) => root,
        // The tree refuses a number too large for a double, which is JSON all the same
        // (and which the one-pass reading skips where Parley does not read it): nothing
        // here can be read part by part.
        Err(e) if serde_json::from_str::<serde::de::IgnoredAny>(body).is_ok() => {
            unparsed("notification", "(root)", &e.to_string());
            return Ok(items);
        }
        Err(e) => return Err(MetaWebhookError::NotJson(e)),
    };
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
        let waba_id = entry.get("id").and_then(Value::as_str);
        for (j, change) in changes.iter().enumerate() {
            let at = format!("entry[{i}].changes[{j}]");
            let field = match change.get("field").and_then(Value::as_str) {
                // `user_id_update` is its own subscription field since 2026.
                Some(
                    field @ ("messages" | "user_id_update" | "smb_message_echoes" | "history"
                    | "calls"),
                ) => field,
                Some(field @ ("message_template_status_update" | "template_category_update")) => {
                    match change.get("value") {
                        Some(value @ Value::Object(_)) => items.extend(account::template(
                            field,
                            waba_id,
                            &format!("{at}.value"),
                            value,
                        )),
                        _ => unparsed("change", &at, "no `value` object"),
                    }
                    continue;
                }
                Some("user_preferences") => {
                    match change.get("value") {
                        Some(value @ Value::Object(_)) => {
                            account::preferences(&format!("{at}.value"), value, &mut items)
                        }
                        _ => unparsed("change", &at, "no `value` object"),
                    }
                    continue;
                }
                Some(field @ "smb_app_state_sync") => {
                    // The business app's address book: names a person typed on the phone,
                    // not what the customer calls themselves; Parley keeps its own contacts.
                    dropped("meta", field, "contact", "the WhatsApp Business app's contact sync is ignored on purpose: Parley's contacts come from the customers' own messages");
                    continue;
                }
                Some(field) => {
                    dropped(
                        "meta",
                        field,
                        "change",
                        "Parley does not act on this webhook field",
                    );
                    continue;
                }
                None => {
                    unparsed("change", &at, "no `field` string");
                    continue;
                }
            };
            match change.get("value") {
                Some(value @ Value::Object(_)) => {
                    collect(field, &format!("{at}.value"), value, &mut items)
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

/// Deserializes one part of the body, naming the path inside it on failure. Tracking the
/// path costs an allocation per key on the way, so it is done only to explain a failure.
fn typed<'a, T: Deserialize<'a>>(value: &'a Value) -> Result<T, String> {
    if let Ok(t) = T::deserialize(value) {
        return Ok(t);
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.into_inner().to_string()
        } else {
            format!("at `{path}`: {}", e.into_inner())
        }
    })
}

fn collect(field: &str, at: &str, value: &Value, items: &mut Vec<Routed>) {
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
    let mut push = |item| {
        items.push(Routed {
            route: route.clone(),
            item,
        })
    };
    match field {
        "smb_message_echoes" => {
            for (k, raw) in list("message_echoes").iter().enumerate() {
                if let Some(m) = platform::echo(&format!("{at}.message_echoes[{k}]"), raw) {
                    push(WebhookItem::Message(m));
                }
            }
            return;
        }
        "history" => {
            for (k, raw) in list("history").iter().enumerate() {
                for m in platform::history(&format!("{at}.history[{k}]"), raw) {
                    push(WebhookItem::Message(m));
                }
            }
            return;
        }
        "calls" => {
            for (k, raw) in list("calls").iter().enumerate() {
                let at = format!("{at}.calls[{k}]");
                if let Some(m) = platform::call(&at, raw, &contacts) {
                    push(WebhookItem::Message(m));
                }
            }
            for raw in list("statuses") {
                let status = raw.get("status").and_then(Value::as_str).unwrap_or("");
                dropped("meta", "calls", &status.to_ascii_lowercase(), "statuses of calls the business makes (ringing, accepted, rejected) are not acted on");
            }
            return;
        }
        _ => {}
    }
    // Errors Meta reports about the change itself (not about one message): nothing to
    // act on, but an operator must see them.
    for raw in list("errors") {
        let code = raw.get("code").and_then(Value::as_i64).unwrap_or_default();
        let title = raw
            .get("title")
            .or_else(|| raw.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let title: String = title.chars().take(200).collect();
        tracing::warn!(provider = "meta", at, code, %title, "Meta reported an error in a webhook");
        dropped(
            "meta",
            field,
            "errors",
            "an error Meta reports about the webhook itself, logged at WARN with its code",
        );
    }
    let messages = list("messages");
    // One contact and one message belong together, so the profile name is kept even if
    // the two ids were ever spelled differently.
    let lone_pair = contacts.len() == 1 && messages.len() == 1;
    for (k, raw) in messages.iter().enumerate() {
        let at = format!("{at}.messages[{k}]");
        let message = match typed::<wire::Message>(raw) {
            Ok(message) => message_item(&at, message, &contacts, lone_pair),
            Err(reason) => unreadable_message(&at, raw, &reason).map(WebhookItem::Message),
        };
        if let Some(item) = message {
            push(item);
        }
    }
    for (k, raw) in list("user_id_update").iter().enumerate() {
        match typed::<wire::UserIdUpdate>(raw) {
            Ok(update) => {
                if let Some(change) = user_id_update(update) {
                    push(WebhookItem::IdentityChange(change));
                }
            }
            Err(reason) => unparsed(
                "user_id_update",
                &format!("{at}.user_id_update[{k}]"),
                &reason,
            ),
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
            push(WebhookItem::Status(status));
        }
    }
}

/// One message of a `messages` change as an item: a system message changes the
/// customer's identity, any other is an inbound message from the sender `contacts` names
/// (or the lone contact, when the change holds one contact and one message).
fn message_item(
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

/// Who sent a message: the phone (`from`) and the business-scoped user id
/// (`from_user_id`), each taken from the matching `contacts[]` entry (`wa_id`, `user_id`)
/// when the message lacks it; both when both are known. Since 2026 a user who hides their
/// number may come with a BSUID only, in the message or only in `contacts[].user_id`.
fn sender(message: &wire::Message, contact: Option<&wire::Contact>) -> Option<ContactRef> {
    let phone = non_empty(&message.from).or(contact.and_then(|c| non_empty(&c.wa_id)));
    let user_id = non_empty(&message.from_user_id).or(contact.and_then(|c| non_empty(&c.user_id)));
    identified(&message.id, phone, user_id)
}

/// The customer named by a phone (`wa_id`) and/or a business-scoped user id: an echo's or
/// a history message's recipient, a caller.
fn customer(id: &str, phone: &Option<String>, user_id: &Option<String>) -> Option<ContactRef> {
    identified(id, non_empty(phone), non_empty(user_id))
}

fn identified(id: &str, phone: Option<&str>, user_id: Option<&str>) -> Option<ContactRef> {
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
fn identity_change(at: &str, message: &wire::Message) -> Option<IdentityChange> {
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
fn user_id_update(update: wire::UserIdUpdate) -> Option<IdentityChange> {
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

fn inbound_message(
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
fn content(field: &str, m: &mut wire::Message) -> Result<Option<InboundContent>, String> {
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
fn bounded(s: String) -> String {
    match s.char_indices().nth(INBOUND_FIELD_MAX) {
        Some((end, _)) => s[..end].to_string(),
        None => s,
    }
}

fn shared_contact(c: wire::SharedContact) -> SharedContact {
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
fn pricing(p: wire::Pricing) -> crate::domain::pricing::StatusPricing {
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

mod account;
mod platform;
#[cfg(test)]
mod tests;
