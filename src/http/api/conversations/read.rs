//! The read API for agents and dashboards: `GET /api/conversations` (newest first, with
//! contact, window and handoff state) and `GET /api/conversations/{id}/messages` (outbound
//! messages with their delivery status and error, and the customer's messages, newest
//! first; a voice note with its `transcript` when `transcribe:` made one).
//!
//! Paging: `limit` (1–200, default 50) and `before`, the `next_before` of the previous page
//! (`null` on the last page). For messages it is an opaque cursor holding one position per
//! direction, because outbound and inbound messages live in different tables.

use crate::domain::session::session_status;
use crate::domain::{EventKind, InboundContent, MediaKind, OutboundContent, StoredEvent};
use crate::http::api::body::Fields;
use crate::http::api::common::{conversation, limit};
use crate::http::error::{Error, PathParam};
use crate::http::state::AppState;
use crate::store::{Id, OutboundRecord, TRANSCRIPT_SEQ};
use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub async fn list(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Error> {
    let q = Fields::from_query(query.as_deref());
    let limit = limit(&q)?;
    let before = q.opt_int("before")?;
    let sender_id = q.opt_int("sender_id")?;
    let rows = st
        .store
        .conversations_page(sender_id, before, limit)
        .await?;
    let policy = st.config.window.policy();
    let now = st.clock.now();
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.conversation.id))
        .flatten();
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            let c = &r.conversation;
            let window = policy.state(c.last_inbound_at, now);
            let known = r.contact.contact_ref();
            // A customer who hides their number is known by their business-scoped id
            // (`key: "bsuid:US.…"`): it is given on its own, as the send API takes it
            // (`recipient_user_id`), with their username when WhatsApp sent one.
            let user_id = r
                .contact
                .user_id
                .clone()
                .or_else(|| known.as_ref().and_then(|k| k.user_id().map(str::to_string)));
            json!({
                "id": c.id,
                "sender_id": c.sender_id,
                "contact": {
                    "id": r.contact.id,
                    "key": r.contact.key,
                    "phone": known.as_ref().and_then(|k| k.phone().map(|p| p.as_e164().to_string())),
                    "user_id": user_id,
                    "username": r.contact.username,
                    "name": r.contact.name,
                    "tags": r.contact.tags,
                },
                "last_inbound_at": c.last_inbound_at.map(|t| t.to_rfc3339()),
                "window": {
                    "is_open": window.is_open,
                    "expires_at": window.expires_at.map(|t| t.to_rfc3339()),
                    "minutes_remaining": window.minutes_remaining,
                },
                "session_status": session_status(&window),
                "handoff": c.state.handoff.as_ref().map(|h| json!({
                    "since": h.since.to_rfc3339(),
                    "until": h.until.map(|t| t.to_rfc3339()),
                    "flow": h.flow,
                })),
                "flow": c.state.run.as_ref().map(|r| r.flow.clone()),
                "created_at": c.created_at.to_rfc3339(),
            })
        })
        .collect();
    Ok(Json(json!({
        "success": true,
        "conversations": items,
        "next_before": next,
    })))
}

/// `"<outbound id>.<inbound id>"`: below which ids each direction continues.
fn parse_cursor(s: &str) -> Option<(Id, Id)> {
    let (o, i) = s.trim().split_once('.')?;
    Some((o.parse().ok()?, i.parse().ok()?))
}

fn outbound_json(m: &OutboundRecord) -> Value {
    json!({
        "direction": "outbound",
        "id": m.id,
        "type": m.message.content.kind_name(),
        "text": outbound_text(&m.message.content),
        "content": m.message.content,
        "origin": m.origin.as_str(),
        "status": m.status.as_str(),
        "provider_message_id": m.provider_message_id,
        "error_code": m.error_code,
        "error_title": m.error_title,
        "window_closed": m.window_closed,
        "attempts": m.attempts,
        "at": m.created_at.to_rfc3339(),
        "updated_at": m.updated_at.to_rfc3339(),
    })
}

fn outbound_text(c: &OutboundContent) -> Option<String> {
    match c {
        OutboundContent::Text { body, .. }
        | OutboundContent::Buttons { body, .. }
        | OutboundContent::List { body, .. }
        | OutboundContent::UrlButton { body, .. }
        | OutboundContent::LocationRequest { body } => Some(body.clone()),
        OutboundContent::Reaction { emoji, .. } => Some(emoji.clone()),
        OutboundContent::Form(f) => Some(f.body.clone()),
        OutboundContent::AddressRequest { body, .. } => Some(body.clone()),
        OutboundContent::Media { caption, .. } => caption.clone(),
        OutboundContent::Location { name, .. } => name.clone(),
        OutboundContent::Template(t) => Some(format!("template {}", t.name)),
        OutboundContent::ThreadControl(a) => Some(format!("thread control: {}", a.name())),
    }
}

fn inbound_json(e: &StoredEvent, transcript: Option<&str>) -> Option<(DateTime<Utc>, Value)> {
    let EventKind::Message(m) = &e.kind else {
        return None;
    };
    let at = m.timestamp.unwrap_or(e.received_at);
    let content: &InboundContent = &m.content;
    let mut message = json!({
        "direction": "inbound",
        "id": e.id,
        "type": content.kind_name(),
        // A voice note's text is its transcript, as flows read it.
        "text": content.text().or(transcript),
        "content": content,
        "provider_message_id": m.provider_message_id,
        "at": at.to_rfc3339(),
    });
    if is_voice_note(e) {
        message["transcript"] = json!(transcript);
    }
    // Sorted by receipt (the order of ids, which paging relies on); shown with the
    // provider's time.
    Some((e.received_at, message))
}

fn is_voice_note(e: &StoredEvent) -> bool {
    matches!(&e.kind, EventKind::Message(m) if matches!(
        m.content,
        InboundContent::Media { media: MediaKind::Audio, .. }
    ))
}

/// The transcripts of the voice notes among `events` (`transcribe:`), by event id.
async fn transcripts(
    st: &AppState,
    events: &[StoredEvent],
) -> Result<std::collections::HashMap<Id, String>, Error> {
    let mut found = std::collections::HashMap::new();
    for e in events.iter().filter(|e| is_voice_note(e)) {
        let x = st.store.model_exchange(e.id, TRANSCRIPT_SEQ).await?;
        let text = x.and_then(|x| x.answer?.get("text")?.as_str().map(str::to_string));
        if let Some(text) = text.filter(|t| !t.is_empty()) {
            found.insert(e.id, text);
        }
    }
    Ok(found)
}

pub async fn messages(
    State(st): State<AppState>,
    PathParam(raw_id): PathParam,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Error> {
    let q = Fields::from_query(query.as_deref());
    let limit = limit(&q)?;
    let (before_out, before_in) = match q.opt_str("before")? {
        None => (None, None),
        Some(c) => {
            let (o, i) = parse_cursor(c).ok_or_else(|| {
                Error::field(
                    "before",
                    "before must be the next_before of a previous page",
                )
            })?;
            (Some(o), Some(i))
        }
    };
    let conversation = conversation(&st, &raw_id).await?;
    let outbound = st
        .store
        .conversation_outbound(conversation.id, before_out, limit)
        .await?;
    let inbound = st
        .store
        .conversation_inbound(conversation.id, before_in, limit)
        .await?;
    let transcripts = transcripts(&st, &inbound).await?;
    // Merge newest first, take `limit`; each side's cursor is the oldest id taken from it.
    let mut merged: Vec<(DateTime<Utc>, bool, Id, Value)> = outbound
        .iter()
        .map(|m| (m.created_at, true, m.id, outbound_json(m)))
        .chain(inbound.iter().filter_map(|e| {
            let transcript = transcripts.get(&e.id).map(String::as_str);
            inbound_json(e, transcript).map(|(at, v)| (at, false, e.id, v))
        }))
        .collect();
    merged.sort_by(|a, b| b.0.cmp(&a.0).then(b.2.cmp(&a.2)));
    let more = merged.len() as i64 > limit
        || outbound.len() as i64 == limit
        || inbound.len() as i64 == limit;
    merged.truncate(limit as usize);
    let mut next_out = before_out.unwrap_or(Id::MAX);
    let mut next_in = before_in.unwrap_or(Id::MAX);
    for (_, out, id, _) in &merged {
        if *out {
            next_out = next_out.min(*id);
        } else {
            next_in = next_in.min(*id);
        }
    }
    let next = (more && !merged.is_empty()).then(|| format!("{next_out}.{next_in}"));
    Ok(Json(json!({
        "success": true,
        "conversation_id": conversation.id,
        "messages": merged.into_iter().map(|(_, _, _, v)| v).collect::<Vec<_>>(),
        "next_before": next,
    })))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursors_hold_one_position_per_direction() {
        assert_eq!(super::parse_cursor("12.7"), Some((12, 7)));
        assert_eq!(super::parse_cursor("12"), None);
        assert_eq!(super::parse_cursor("a.b"), None);
    }
}
