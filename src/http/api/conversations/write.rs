//! Sends into a known conversation (seed 004) — `POST /api/conversations/{id}/messages`
//! with text, media (image, video, audio, document), a location, a location request or a
//! reaction — and
//! `POST /api/conversations/{id}/release`, which hands a conversation back from a human
//! agent to the bot.
//!
//! Release inserts a `release` event into the conversation, so the inbox applies it in
//! order with the customer's messages; it answers 409 `NOT_IN_HANDOFF` when the
//! conversation is not in a handoff, and 200 again (nothing added twice) while a release of
//! the same handoff is still pending.

use super::content::content;
use crate::domain::session::session_status;
use crate::domain::{Conversation, Handoff, OutboundMessage};
use crate::http::api::body::Fields;
use crate::http::api::common::conversation;
use crate::http::api::common::ApiContext;
use crate::http::api::media;
use crate::http::api::outbox::{self, parley_message_id};
use crate::http::api::session::window_of;
use crate::http::error::{Error, PathParam};
use crate::http::state::AppState;
use crate::store::NewEvent;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{json, Value};
use std::sync::Arc;

pub async fn send_message(
    State(st): State<AppState>,
    Extension(ctx): Extension<Arc<ApiContext>>,
    PathParam(raw_id): PathParam,
    body: Bytes,
) -> Result<Json<Value>, Error> {
    let f = Fields::parse(&body)?;
    let (content, media) = content(&f)?;
    let conversation = conversation(&st, &raw_id).await?;
    let sender = outbox::sender(&st, conversation.sender_id).ok_or_else(Error::sender_not_found)?;
    if let Some(refused) = crate::http::api::auth::sender_refusal(sender.id) {
        return Err(refused);
    }
    if outbox::is_offline(&st, sender.id).await? {
        return Err(Error::sender_offline());
    }
    let window = window_of(&st, Some(&conversation)).await?;
    if !window.is_open {
        return Err(Error::session_expired(session_status(&window)));
    }
    let to = st
        .store
        .contact(conversation.contact_id)
        .await?
        .and_then(|c| c.contact_ref())
        .ok_or_else(Error::conversation_not_found)?;
    if let Some((kind, url)) = &media {
        media::check(&ctx.media_http, &st.config.api.media_check, *kind, url).await?;
    }
    let (cost, _) = outbox::price(&st, Some(&conversation), &to, &content);
    if outbox::over_budget(&st, sender, cost.price_micros).await? {
        return Err(Error::insufficient_balance());
    }
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
    Ok(Json(json!({
        "success": true,
        "conversation_id": conversation.id,
        "message_id": id,
        "message_sid": parley_message_id(id),
        "status": "queued",
        "session_status": session_status(&window),
    })))
}

pub async fn release(
    State(st): State<AppState>,
    PathParam(raw_id): PathParam,
) -> Result<Json<Value>, Error> {
    let conversation = conversation(&st, &raw_id).await?;
    let handoff = queue_release(&st, &conversation, "api").await?;
    Ok(Json(json!({
        "success": true,
        "conversation_id": conversation.id,
        "status": "release_queued",
        "handoff_since": handoff.since.to_rfc3339(),
    })))
}

/// Asks the inbox to end `conversation`'s handoff to a person: a `release` event, applied
/// in order with the customer's messages. Returns the handoff it ends; 409
/// `NOT_IN_HANDOFF` when there is none. `by` names who asked (`api`, `sandbox`).
pub async fn queue_release(
    st: &AppState,
    conversation: &Conversation,
    by: &str,
) -> Result<Handoff, Error> {
    let (Some(handoff), Some(event)) = (
        conversation.state.handoff.clone(),
        NewEvent::release(conversation, by, st.clock.now()),
    ) else {
        return Err(Error::new(
            StatusCode::CONFLICT,
            "NOT_IN_HANDOFF",
            "Conversation is not in a handoff; there is nothing to release",
        ));
    };
    st.store.insert_events(&[event]).await?;
    st.wake.inbox.notify_one();
    tracing::info!(
        conversation_id = conversation.id,
        by,
        "handoff release requested"
    );
    Ok(handoff)
}
