//! The webhook fields beside `messages`: what a person typed in the WhatsApp Business app on
//! a shared number (`smb_message_echoes`), the chat history shared at onboarding
//! (`history`), and voice calls (`calls`). Each becomes an `InboundMessage` whose content
//! says what it is (`Echo`, `History`, `Call`), so it is stored, deduplicated and ordered
//! with the conversation's messages; the content decides whether it moves the window
//! (`InboundContent::opens_window`) and what the engine does with it.

use super::{content, customer, dropped, errors_of, non_empty, timestamp, typed, unparsed, wire};
use crate::domain::{
    CallDirection, CallEvent, CallPhase, ContactRef, InboundContent, InboundMessage, PhoneNumber,
};
use serde_json::Value;

/// A message a person sent from the WhatsApp Business app: same shape as a customer's
/// message, with `to` naming the customer.
pub(super) fn echo(at: &str, raw: &Value) -> Option<InboundMessage> {
    let mut m = match typed::<wire::Message>(raw) {
        Ok(m) => m,
        Err(reason) => {
            unparsed("message", at, &reason);
            return None;
        }
    };
    let to = customer(&m.id, &m.to, &m.to_user_id)?;
    let inner = match content("smb_message_echoes", &mut m) {
        Ok(inner) => inner?,
        Err(reason) => {
            unparsed("message", at, &reason);
            InboundContent::Unsupported {
                original_type: Some(m.kind.clone()),
                errors: Vec::new(),
            }
        }
    };
    Some(InboundMessage {
        provider_message_id: m.id,
        from: to,
        profile_name: None,
        username: None,
        timestamp: timestamp(m.timestamp.as_ref()),
        content: InboundContent::Echo {
            content: Box::new(inner),
        },
        context: None,
        referral: None,
    })
}

/// One chunk of the shared history: every message of every thread, each for the thread's
/// customer. A chunk with `errors` (the business declined to share) yields nothing.
pub(super) fn history(at: &str, raw: &Value) -> Vec<InboundMessage> {
    let chunk = match typed::<wire::HistoryChunk>(raw) {
        Ok(chunk) => chunk,
        Err(reason) => {
            unparsed("change", at, &reason);
            return Vec::new();
        }
    };
    if chunk.threads.is_empty() {
        if let Some(error) = errors_of(raw).first() {
            tracing::info!(code = error.code, title = %error.title, "Meta says the chat history will not be shared");
            dropped(
                "meta",
                "history",
                "declined",
                "the business declined to share its chat history",
            );
        }
        return Vec::new();
    }
    let mut out = Vec::new();
    for (t, thread) in chunk.threads.into_iter().enumerate() {
        let customer = match PhoneNumber::parse(&thread.id) {
            Ok(phone) => ContactRef::Phone(phone),
            Err(_) if crate::domain::is_user_id(thread.id.trim()) => {
                ContactRef::BusinessScoped(thread.id.trim().to_string())
            }
            Err(_) => {
                unparsed(
                    "message",
                    &format!("{at}.threads[{t}]"),
                    "the thread `id` is neither a phone number nor a business-scoped user id",
                );
                continue;
            }
        };
        for (k, raw) in thread.messages.iter().enumerate() {
            let at = format!("{at}.threads[{t}].messages[{k}]");
            let mut m = match typed::<wire::Message>(raw) {
                Ok(m) => m,
                Err(reason) => {
                    unparsed("message", &at, &reason);
                    continue;
                }
            };
            let from_customer = non_empty(&m.from) == Some(thread.id.as_str())
                || (non_empty(&m.from).is_none() && non_empty(&m.from_user_id).is_some());
            let inner = match content("history", &mut m) {
                Ok(Some(inner)) => inner,
                Ok(None) => continue,
                Err(reason) => {
                    unparsed("message", &at, &reason);
                    InboundContent::Unsupported {
                        original_type: Some(m.kind.clone()),
                        errors: Vec::new(),
                    }
                }
            };
            out.push(InboundMessage {
                provider_message_id: m.id,
                from: customer.clone(),
                profile_name: None,
                username: None,
                timestamp: timestamp(m.timestamp.as_ref()),
                content: InboundContent::History {
                    from_customer,
                    content: Box::new(inner),
                    status: m
                        .history_context
                        .and_then(|c| c.status)
                        .map(|s| s.to_ascii_lowercase()),
                },
                context: None,
                referral: None,
            });
        }
    }
    out
}

/// One event of a call. Its id is the call id and the event (`wacid…:connect`), so the
/// connect and the terminate of one call are two events, and each is stored once.
pub(super) fn call(at: &str, raw: &Value, contacts: &[wire::Contact]) -> Option<InboundMessage> {
    let c = match typed::<wire::Call>(raw) {
        Ok(c) => c,
        Err(reason) => {
            unparsed("message", at, &reason);
            return None;
        }
    };
    let event = match c.event.as_str() {
        "connect" => CallPhase::Connect,
        "terminate" => CallPhase::Terminate,
        other => {
            dropped(
                "meta",
                "calls",
                other,
                "a call event Parley does not act on",
            );
            return None;
        }
    };
    // Meta's examples name the direction on every event; when it is missing the call is
    // taken as the customer's, the only kind that reaches a number without the business
    // first asking the Calling API for it.
    let direction = match c
        .direction
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("USER_INITIATED") => CallDirection::UserInitiated,
        Some("BUSINESS_INITIATED") => CallDirection::BusinessInitiated,
        Some(other) => {
            dropped(
                "meta",
                "calls",
                &other.to_ascii_lowercase(),
                "a call direction Parley does not know",
            );
            return None;
        }
    };
    let (who, who_user) = match direction {
        CallDirection::UserInitiated => (&c.from, &c.from_user_id),
        CallDirection::BusinessInitiated => (&c.to, &c.to_user_id),
    };
    // The `contacts` entry of the customer, by number or by BSUID: it may hold the BSUID
    // the call's own fields leave out (or the number a BSUID-only call does).
    let entry = contacts.iter().find(|k| {
        super::same_id(&k.wa_id, who)
            || (who_user.is_some() && k.user_id.is_some() && k.user_id == *who_user)
    });
    let user_id = who_user
        .clone()
        .or_else(|| entry.and_then(|k| k.user_id.clone()));
    let from = customer(&c.id, who, &user_id)?;
    let profile = entry.and_then(|k| k.profile.as_ref());
    let seconds = |t: &Option<wire::Timestamp>| t.as_ref().and_then(wire::Timestamp::unix_seconds);
    Some(InboundMessage {
        provider_message_id: format!("{}:{}", c.id, event.as_str()),
        from,
        profile_name: profile.and_then(|p| p.name.clone()),
        username: profile.and_then(|p| p.username.clone()),
        timestamp: timestamp(c.timestamp.as_ref()),
        content: InboundContent::Call(CallEvent {
            call_id: c.id,
            event,
            direction,
            status: c.status.map(|s| s.to_ascii_lowercase()),
            duration_seconds: seconds(&c.duration),
            start_time: timestamp(c.start_time.as_ref()),
            end_time: timestamp(c.end_time.as_ref()),
        }),
        context: None,
        referral: None,
    })
}
