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

use crate::domain::session::session_status;
use crate::domain::{Conversation, Handoff, MediaKind, OutboundContent, OutboundMessage};
use crate::http::api::body::{chars, FieldError, Fields};
use crate::http::api::common::conversation;
use crate::http::api::common::ApiContext;
use crate::http::api::common::MAX_TEXT;
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

const MAX_CAPTION: usize = crate::domain::limits::BODY_MAX;
const MAX_LOCATION_TEXT: usize = 1000;

fn content(f: &Fields) -> Result<(OutboundContent, Option<(MediaKind, String)>), Error> {
    let kind = f.str("type")?.trim().to_ascii_lowercase();
    match kind.as_str() {
        "text" => {
            let text = match f.opt_str("text")? {
                Some(t) => t,
                None => f.opt_str("message")?.ok_or_else(|| {
                    FieldError::new("text", "text is required when type is 'text'")
                })?,
            };
            if crate::domain::limits::is_blank(text) {
                return Err(Error::field("text", "text must not be empty"));
            }
            if chars(text) > MAX_TEXT {
                return Err(Error::field(
                    "text",
                    format!(
                        "text must be at most {MAX_TEXT} characters, got {}",
                        chars(text)
                    ),
                ));
            }
            Ok((
                OutboundContent::Text {
                    body: text.to_string(),
                    preview_url: false,
                },
                None,
            ))
        }
        "image" | "video" | "audio" | "document" => {
            let media = MediaKind::parse(&kind).unwrap_or(MediaKind::Document);
            let url = f.opt_str("media_url")?.ok_or_else(|| {
                Error::field(
                    "media_url",
                    format!("media_url is required when type is '{kind}'"),
                )
            })?;
            let url = media::parse_url("media_url", url)?.to_string();
            let caption = f.opt_str("caption")?;
            if let Some(c) = caption {
                if media == MediaKind::Audio {
                    return Err(Error::field(
                        "caption",
                        "caption is not supported for audio",
                    ));
                }
                if chars(c) > MAX_CAPTION {
                    return Err(Error::field(
                        "caption",
                        format!("caption must be at most {MAX_CAPTION} characters"),
                    ));
                }
            }
            let filename = f.opt_str("filename")?;
            if filename.is_some() && media != MediaKind::Document {
                return Err(Error::field("filename", "filename is only for documents"));
            }
            Ok((
                OutboundContent::Media {
                    media,
                    link: url.clone(),
                    caption: caption.map(str::to_string),
                    filename: filename.map(str::to_string),
                },
                Some((media, url)),
            ))
        }
        "location" => {
            let loc = f.opt_object("location")?.ok_or_else(|| {
                FieldError::new("location", "location is required when type is 'location'")
            })?;
            let at = |e: FieldError| {
                Error::field(
                    &format!("location.{}", e.field),
                    format!("location.{}", e.message),
                )
            };
            let latitude = loc.opt_f64("latitude").map_err(at)?.ok_or_else(|| {
                Error::field("location.latitude", "location.latitude is required")
            })?;
            let longitude = loc.opt_f64("longitude").map_err(at)?.ok_or_else(|| {
                Error::field("location.longitude", "location.longitude is required")
            })?;
            if !(-90.0..=90.0).contains(&latitude) {
                return Err(Error::field(
                    "location.latitude",
                    "location.latitude must be between -90 and 90",
                ));
            }
            if !(-180.0..=180.0).contains(&longitude) {
                return Err(Error::field(
                    "location.longitude",
                    "location.longitude must be between -180 and 180",
                ));
            }
            let name = loc.opt_str("name").map_err(at)?;
            let address = loc.opt_str("address").map_err(at)?;
            for (field, v) in [("name", name), ("address", address)] {
                if v.is_some_and(|v| chars(v) > MAX_LOCATION_TEXT) {
                    return Err(Error::field(
                        &format!("location.{field}"),
                        format!("location.{field} must be at most {MAX_LOCATION_TEXT} characters"),
                    ));
                }
            }
            Ok((
                OutboundContent::Location {
                    latitude,
                    longitude,
                    name: name.map(str::to_string),
                    address: address.map(str::to_string),
                },
                None,
            ))
        }
        "location_request" => {
            let text = f.opt_str("text")?.ok_or_else(|| {
                FieldError::new("text", "text is required when type is 'location_request'")
            })?;
            if crate::domain::limits::is_blank(text) {
                return Err(Error::field("text", "text must not be empty"));
            }
            let max = crate::domain::limits::LOCATION_REQUEST_BODY_MAX;
            if chars(text) > max {
                return Err(Error::field(
                    "text",
                    format!(
                        "text must be at most {max} characters, got {}",
                        chars(text)
                    ),
                ));
            }
            Ok((
                OutboundContent::LocationRequest {
                    body: text.to_string(),
                },
                None,
            ))
        }
        "reaction" => {
            let message_id = f.opt_str("message_id")?.unwrap_or_default().trim();
            if message_id.is_empty() {
                return Err(Error::field(
                    "message_id",
                    "message_id (the provider id of the customer's message) is required when type is 'reaction'",
                ));
            }
            if chars(message_id) > crate::domain::limits::BUTTON_ID_MAX {
                return Err(Error::field("message_id", "message_id is too long"));
            }
            let emoji = f.opt_str("emoji")?.ok_or_else(|| {
                FieldError::new(
                    "emoji",
                    "emoji is required when type is 'reaction' (\"\" removes the reaction)",
                )
            })?;
            if let Some(why) = crate::domain::limits::reaction_problem(emoji) {
                return Err(Error::field("emoji", why));
            }
            Ok((
                OutboundContent::Reaction {
                    message_id: message_id.to_string(),
                    emoji: emoji.to_string(),
                },
                None,
            ))
        }
        _ => Err(Error::field(
            "type",
            "type must be one of: text, image, video, audio, document, location, location_request, reaction",
        )),
    }
}

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
        OutboundMessage { to, content },
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
