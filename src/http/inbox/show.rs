//! `GET /api/inbox/conversations/{id}`: a conversation in handoff with its history
//! (oldest first: the customer's messages, the bot's and people's replies, where the
//! handoff began), its window (open until when, or closed) and the approved templates
//! its sender may send, with their placeholders, for when the window is closed.

use super::list::{card, handed_off, inbound_text, recent};
use crate::config::{ChannelKind, TemplateConfig};
use crate::domain::{LiveTemplate, OutboundContent};
use crate::engine::trace::summary;
use crate::http::error::{Error, PathParam};
use crate::http::state::AppState;
use crate::store::{ConversationSummary, Origin, OutboundRecord};
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The step of a reply from the inbox starts with it; the key's name follows
/// (`reply.rs`).
pub(super) const AUTHOR_PREFIX: &str = "inbox:";

/// How many of each direction's latest messages the history shows.
const HISTORY: i64 = 100;

pub async fn show(
    State(st): State<AppState>,
    PathParam(raw_id): PathParam,
) -> Result<Json<Value>, Error> {
    let conversation = handed_off(&st, &raw_id).await?;
    let contact = st
        .store
        .contact(conversation.contact_id)
        .await?
        .ok_or_else(Error::conversation_not_found)?;
    let recent = recent(&st, conversation.id, HISTORY).await?;
    let row = ConversationSummary {
        conversation: conversation.clone(),
        contact,
    };
    let card = card(&st, &row, &recent)
        .await?
        .ok_or_else(Error::conversation_not_found)?;
    let mut lines: Vec<(DateTime<Utc>, u8, i64, Value)> = Vec::new();
    for e in &recent.inbound {
        lines.push((
            e.received_at,
            0,
            e.id,
            json!({
                "direction": "inbound",
                "key": format!("in-{}", e.id),
                "by": "customer",
                "text": inbound_text(e),
                // Sorted by receipt; shown with the time the customer wrote it.
                "at": written_at(e).to_rfc3339(),
            }),
        ));
    }
    let authors = authors(&st, conversation.id, &recent.outbound).await?;
    for m in &recent.outbound {
        let author = authors.get(&m.id).map(String::as_str);
        lines.push((m.created_at, 2, m.id, outbound_line(&st, m, author)));
    }
    if let Some(h) = &conversation.state.handoff {
        lines.push((
            h.since,
            1,
            0,
            json!({
                "direction": "system",
                "key": format!("handoff-{}", h.since.timestamp_micros()),
                "text": format!("Flow {} handed the conversation to a person", h.flow),
                "at": h.since.to_rfc3339(),
            }),
        ));
    }
    // At one instant: the customer's message, then the handoff it began, then the replies.
    lines.sort_by_key(|l| (l.0, l.1, l.2));
    let templates = usable_templates(&st, conversation.sender_id).await?;
    Ok(Json(json!({
        "success": true,
        "conversation": card,
        "messages": lines.into_iter().map(|(_, _, _, v)| v).collect::<Vec<_>>(),
        "templates": templates,
    })))
}

/// When the customer wrote `e` (the provider's time), else when it arrived.
fn written_at(e: &crate::domain::StoredEvent) -> DateTime<Utc> {
    match &e.kind {
        crate::domain::EventKind::Message(m) => m.timestamp.unwrap_or(e.received_at),
        _ => e.received_at,
    }
}

/// The names of the keys that wrote `outbound` from the inbox (`inbox:<name>` as their
/// step), by message id.
async fn authors(
    st: &AppState,
    conversation_id: i64,
    outbound: &[OutboundRecord],
) -> Result<HashMap<i64, String>, Error> {
    let Some(oldest) = outbound.iter().map(|m| m.id).min() else {
        return Ok(HashMap::new());
    };
    let found = st
        .store
        .outbound_authors(conversation_id, oldest, AUTHOR_PREFIX, HISTORY)
        .await?;
    Ok(found
        .into_iter()
        .map(|(id, step)| (id, step[AUTHOR_PREFIX.len()..].to_string()))
        .collect())
}

/// A reply in the history: who sent it (`bot`, `person` — with the name of the key that
/// wrote it from the inbox — or `broadcast`), its text, its delivery status.
fn outbound_line(st: &AppState, m: &OutboundRecord, author: Option<&str>) -> Value {
    let by = match m.origin {
        Origin::Api | Origin::Echo => "person",
        Origin::Broadcast => "broadcast",
        Origin::Flow | Origin::Fallback => "bot",
    };
    json!({
        "direction": "outbound",
        "key": format!("out-{}", m.id),
        "by": by,
        "author": author,
        "origin": m.origin.as_str(),
        "type": m.message.content.kind_name(),
        "text": outbound_text(st, &m.message.content),
        "status": m.status.as_str(),
        "error_title": m.error_title,
        "window_closed": m.window_closed,
        "at": m.created_at.to_rfc3339(),
    })
}

/// A reply in one line; a template as its body with the variables it was sent with.
fn outbound_text(st: &AppState, content: &OutboundContent) -> String {
    if let OutboundContent::Template(t) = content {
        if let Some(config) = st
            .config
            .templates
            .iter()
            .find(|c| c.name == t.name && c.language == t.language)
        {
            let mut body = config.body.clone();
            for (name, value) in &t.variables {
                body = body.replace(&format!("{{{{{name}}}}}", name = name), value);
            }
            return body;
        }
    }
    summary(content)
}

/// The templates `sender_id` may send now: approved (what Meta last said wins over the
/// config), and with a Content SID when the sender is a Twilio one.
pub(super) async fn usable_templates(st: &AppState, sender_id: i64) -> Result<Vec<Value>, Error> {
    let live = st.store.live_templates().await?;
    let twilio = st
        .config
        .sender(sender_id)
        .is_some_and(|s| s.channel == ChannelKind::Twilio);
    Ok(st
        .config
        .templates
        .iter()
        .filter(|t| is_usable(t, &live, twilio))
        .map(|t| {
            json!({
                "id": t.id,
                "name": t.name,
                "language": t.language,
                "body": t.body,
                "placeholders": t.placeholders(),
                "category": t.category.map(|c| c.as_str()),
            })
        })
        .collect())
}

/// Whether `t` is approved as Meta last said (else as declared) and sendable by the sender.
pub(super) fn is_usable(t: &TemplateConfig, live: &[LiveTemplate], twilio: bool) -> bool {
    let meta = live
        .iter()
        .filter(|l| l.name == t.name && (l.language == t.language || l.language.is_empty()))
        .max_by_key(|l| !l.language.is_empty());
    let status = meta
        .and_then(|l| l.status.clone())
        .unwrap_or_else(|| t.status.as_str().to_string());
    let sid = t
        .twilio_content_sid
        .as_deref()
        .is_some_and(|s| !s.trim().is_empty());
    status.eq_ignore_ascii_case("approved") && (!twilio || sid)
}
