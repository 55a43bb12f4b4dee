//! `GET /api/inbox/conversations`: the conversations handed to a person now, oldest
//! waiting first, and what the list and one conversation (`show.rs`) share: the
//! conversation in handoff a path names, its latest messages, since when its customer
//! waits, and the conversation as the page shows it.
//!
//! Waiting: until a person has answered in this handoff, the customer waits since the
//! handoff began (`because: handoff_began`); after a person's reply (from the inbox, the
//! API or the WhatsApp Business app), since their oldest message that came after it
//! (`customer_message`); with none, nobody waits (`answered`, listed last). Read from the
//! latest [`RECENT`] messages of each direction.

use crate::domain::DeliveryStatus;
use crate::domain::{Conversation, Handoff, InboundContent, StoredEvent};
use crate::engine::trace::summary;
use crate::http::api::common::conversation;
use crate::http::api::session::window_of;
use crate::http::error::Error;
use crate::http::state::AppState;
use crate::store::{ConversationSummary, Origin, OutboundRecord};
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The most conversations listed (oldest in handoff first; `truncated` says when more are).
pub(super) const MAX_LISTED: i64 = 200;

/// How many of each direction's latest messages the list reads per conversation.
pub(super) const RECENT: i64 = 50;

/// A preview's length in characters.
const PREVIEW_CHARS: usize = 120;

/// The latest messages of a conversation, newest first in each direction.
pub(super) struct Recent {
    pub outbound: Vec<OutboundRecord>,
    pub inbound: Vec<StoredEvent>,
}

pub(super) async fn recent(st: &AppState, id: i64, limit: i64) -> Result<Recent, Error> {
    Ok(Recent {
        outbound: st.store.conversation_outbound(id, None, limit).await?,
        inbound: st.store.conversation_inbound(id, None, limit).await?,
    })
}

/// The conversation named in the path while it is in a handoff; 404 otherwise, as if it
/// did not exist (the inbox's keys reach only these).
pub(super) async fn handed_off(st: &AppState, raw_id: &str) -> Result<Conversation, Error> {
    let c = conversation(st, raw_id).await?;
    if c.state.handoff.is_none() {
        return Err(Error::not_found(
            "Conversation not found among those handed to a person: it may have been released back to the bot",
        ));
    }
    Ok(c)
}

/// A reply that answers the customer: made by a person (the inbox, the API or the
/// WhatsApp Business app), not failed or skipped.
pub(super) fn by_person(m: &OutboundRecord) -> bool {
    matches!(m.origin, Origin::Api | Origin::Echo)
        && !matches!(m.status, DeliveryStatus::Failed | DeliveryStatus::Skipped)
}

/// Since when the customer waits for a person, and why (see the module's doc).
pub(super) fn waiting(handoff: &Handoff, recent: &Recent) -> (Option<DateTime<Utc>>, &'static str) {
    let replies = recent
        .outbound
        .iter()
        .filter(|m| by_person(m))
        .map(|m| m.created_at);
    let customer = recent.inbound.iter().map(|e| e.received_at);
    waiting_since(handoff.since, replies, customer)
}

/// [`waiting`] from the times alone: when the handoff began, when people replied and when
/// the customer wrote.
fn waiting_since(
    began: DateTime<Utc>,
    replies: impl Iterator<Item = DateTime<Utc>>,
    customer: impl Iterator<Item = DateTime<Utc>>,
) -> (Option<DateTime<Utc>>, &'static str) {
    let Some(replied) = replies.filter(|at| *at >= began).max() else {
        return (Some(began), "handoff_began");
    };
    match customer.filter(|at| *at > replied).min() {
        Some(since) => (Some(since), "customer_message"),
        None => (None, "answered"),
    }
}

/// An inbound message in one line: its text, or its kind in brackets.
pub(super) fn inbound_text(e: &StoredEvent) -> String {
    match &e.kind {
        crate::domain::EventKind::Message(m) => {
            let content: &InboundContent = &m.content;
            content
                .text()
                .map(str::to_string)
                .unwrap_or_else(|| format!("[{}]", content.kind_name()))
        }
        _ => String::new(),
    }
}

fn preview(text: &str) -> String {
    let mut out: String = text.chars().take(PREVIEW_CHARS).collect();
    if text.chars().count() > PREVIEW_CHARS {
        out.push('…');
    }
    out
}

/// The newest message of either direction, in one line.
fn last_message(recent: &Recent) -> Value {
    let out = recent.outbound.first();
    let inb = recent.inbound.first();
    match (out, inb) {
        (Some(o), Some(i)) if i.received_at > o.created_at => inbound_preview(i),
        (Some(o), _) => json!({
            "direction": "outbound",
            "text": preview(&summary(&o.message.content)),
            "at": o.created_at.to_rfc3339(),
        }),
        (None, Some(i)) => inbound_preview(i),
        (None, None) => Value::Null,
    }
}

fn inbound_preview(e: &StoredEvent) -> Value {
    json!({
        "direction": "inbound",
        "text": preview(&inbound_text(e)),
        "at": e.received_at.to_rfc3339(),
    })
}

/// A conversation in handoff as the page shows it; `None` when it is not in one.
pub(super) async fn card(
    st: &AppState,
    row: &ConversationSummary,
    recent: &Recent,
) -> Result<Option<Value>, Error> {
    let c = &row.conversation;
    let Some(handoff) = &c.state.handoff else {
        return Ok(None);
    };
    let window = window_of(st, Some(c)).await?;
    let (since, because) = waiting(handoff, recent);
    let known = row.contact.contact_ref();
    let sender = st.config.sender(c.sender_id);
    Ok(Some(json!({
        "id": c.id,
        "sender": { "id": c.sender_id, "name": sender.map(|s| s.name.clone()) },
        "contact": {
            "id": row.contact.id,
            "name": row.contact.name,
            "phone": known.as_ref().and_then(|k| k.phone().map(|p| p.as_e164().to_string())),
            "user_id": row.contact.user_id.clone()
                .or_else(|| known.as_ref().and_then(|k| k.user_id().map(str::to_string))),
            "username": row.contact.username,
        },
        "flow": handoff.flow,
        "handoff": {
            "since": handoff.since.to_rfc3339(),
            "until": handoff.until.map(|t| t.to_rfc3339()),
        },
        "waiting": { "since": since.map(|t| t.to_rfc3339()), "because": because },
        "window": {
            "is_open": window.is_open,
            "expires_at": window.expires_at.map(|t| t.to_rfc3339()),
            "minutes_remaining": window.minutes_remaining,
        },
        "last_message": last_message(recent),
    })))
}

pub async fn list(State(st): State<AppState>) -> Result<Json<Value>, Error> {
    let rows = st.store.handoff_conversations(MAX_LISTED + 1).await?;
    let truncated = rows.len() as i64 > MAX_LISTED;
    let mut cards: Vec<(Option<DateTime<Utc>>, DateTime<Utc>, Value)> = Vec::new();
    for row in rows.iter().take(MAX_LISTED as usize) {
        let recent = recent(&st, row.conversation.id, RECENT).await?;
        let Some(card) = card(&st, row, &recent).await? else {
            continue;
        };
        let handoff = row.conversation.state.handoff.as_ref();
        let since = handoff.and_then(|h| waiting(h, &recent).0);
        let began = handoff.map(|h| h.since).unwrap_or_default();
        cards.push((since, began, card));
    }
    // Oldest waiting first; those nobody waits on last, oldest handoff first.
    cards.sort_by(|a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.1.cmp(&b.1),
    });
    Ok(Json(json!({
        "success": true,
        "conversations": cards.into_iter().map(|(_, _, v)| v).collect::<Vec<_>>(),
        "truncated": truncated,
    })))
}

#[cfg(test)]
mod tests {
    use super::waiting_since;
    use chrono::{DateTime, Duration, Utc};

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    #[test]
    fn a_customer_waits_from_the_handoff_until_a_person_answers_then_from_their_next_message() {
        let none = || std::iter::empty();
        // Nobody answered yet: since the handoff began, whatever the customer wrote.
        assert_eq!(
            waiting_since(t(10), none(), [t(9), t(12)].into_iter()),
            (Some(t(10)), "handoff_began")
        );
        // A reply before this handoff does not count.
        assert_eq!(
            waiting_since(t(10), [t(5)].into_iter(), none()),
            (Some(t(10)), "handoff_began")
        );
        // Answered, and nothing since.
        assert_eq!(
            waiting_since(t(10), [t(11), t(15)].into_iter(), [t(12)].into_iter()),
            (None, "answered")
        );
        // The customer wrote twice after the last reply: since the first of the two.
        assert_eq!(
            waiting_since(
                t(10),
                [t(11), t(15)].into_iter(),
                [t(12), t(17), t(16)].into_iter()
            ),
            (Some(t(16)), "customer_message")
        );
    }
}
