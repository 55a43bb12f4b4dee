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
//! coexistence fields `smb_message_echoes` and `history` and the `calls` field, and in
//! `webhook/routing.rs` Conversation Routing's `standby` and `messaging_handovers`.

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
                    field @ ("messages"
                    | "user_id_update"
                    | "smb_message_echoes"
                    | "history"
                    | "calls"
                    | "standby"
                    | "messaging_handovers"),
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
        "standby" => {
            for item in routing::standby(at, value, &contacts) {
                push(item);
            }
            return;
        }
        "messaging_handovers" => {
            for item in routing::handovers(at, value) {
                push(item);
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

use message::*;

mod account;
mod message;
mod platform;
mod routing;
#[cfg(test)]
mod tests;
