//! Seed 003: `POST /api/v1/messages/send-message` — free-form text, media or buttons to a
//! contact by phone number (digits with country code, no `+`), with that platform's own
//! success body and error shapes (`{"error": "bad_request", "message": …}` for bad input,
//! `{"detail": …}` otherwise; see `errors.rs`).
//!
//! Decisions: the sender is the one whose phone number digits or Meta `phone_number_id`
//! equal `waba_phone_id`; without it, the only sender, else the first Meta sender, else the
//! first sender. The contact is created (or renamed to `contact_name`) only once the message
//! is accepted; a contact without a name is named `User #<contact id>`. `message_id` is
//! `parley-<id>` (the outbound message's id; the provider's wamid is only known once the
//! outbox sent it, see `GET /api/conversations/{id}/messages`), `contact_id` the contact's
//! id as a string.

use super::body::{chars, Fields};
use super::errors::WapError;
use super::media::{self, MediaProblem};
use super::platform::MAX_TEXT;
use super::send::{self, parley_message_id};
use super::session::{seed_time, window_of};
use super::waplify_buttons::{self, Buttons};
use super::ApiContext;
use crate::config::{ChannelKind, SenderConfig};
use crate::domain::{ContactRef, MediaKind, OutboundContent, OutboundMessage, PhoneNumber};
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{json, Value};
use std::sync::Arc;

const MAX_CAPTION: usize = crate::domain::limits::BODY_MAX;
const MAX_BUTTON_TEXT: usize = crate::domain::limits::BODY_MAX;
const MAX_NAME: usize = 255;

impl From<super::body::FieldError> for WapError {
    fn from(e: super::body::FieldError) -> Self {
        WapError::bad(e.message)
    }
}

impl From<MediaProblem> for WapError {
    fn from(p: MediaProblem) -> Self {
        match p {
            MediaProblem::BadUrl(m) => WapError::bad(m),
            MediaProblem::Unacceptable(m) => WapError::detail(StatusCode::UNPROCESSABLE_ENTITY, m),
        }
    }
}

/// `911234567890`: digits only, with the country code.
fn contact_phone(value: &str) -> Result<PhoneNumber, WapError> {
    let v = value.trim();
    let invalid = || WapError::bad("Invalid phone number format");
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    PhoneNumber::parse_strict(v).map_err(|_| invalid())
}

fn pick_sender<'a>(st: &'a AppState, waba: Option<&str>) -> Option<&'a SenderConfig> {
    let senders = &st.config.senders;
    match waba.map(str::trim).filter(|w| !w.is_empty()) {
        Some(w) => {
            let digits = w.trim_start_matches('+');
            senders.iter().find(|s| {
                s.phone_number.digits() == digits
                    || s.meta.as_ref().is_some_and(|m| m.phone_number_id == w)
            })
        }
        None if senders.len() == 1 => senders.first(),
        None => senders
            .iter()
            .find(|s| s.channel == ChannelKind::Meta)
            .or_else(|| senders.first()),
    }
}

/// What the request asks to send, validated.
struct Request {
    to: PhoneNumber,
    name: Option<String>,
    message_type: String,
    content: OutboundContent,
    /// The URL to check before accepting, for media.
    media: Option<(MediaKind, String)>,
    waba: Option<String>,
}

fn read(f: &Fields) -> Result<Request, WapError> {
    let to = contact_phone(f.str("contact_phone")?)?;
    let name = f
        .opt_str("contact_name")?
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if name.is_some_and(|n| chars(n) > MAX_NAME) {
        return Err(WapError::bad(format!(
            "contact_name must be at most {MAX_NAME} characters"
        )));
    }
    let message_type = f.str("message_type")?.trim().to_ascii_lowercase();
    let media_kind = match message_type.as_str() {
        "text" => None,
        "image" | "video" | "audio" | "document" => MediaKind::parse(&message_type),
        _ => {
            return Err(WapError::bad(
                "message_type must be one of: text, image, video, audio, document",
            ))
        }
    };
    let buttons = f
        .opt_object("buttons")
        .map_err(|e| WapError::detail(StatusCode::UNPROCESSABLE_ENTITY, e.message))?;
    let message = f.opt_str("message")?;
    let media_url = f.opt_str("media_url")?;
    let caption = f.opt_str("caption")?;
    let filename = f.opt_str("filename")?;
    let waba = f.opt_str("waba_phone_id")?.map(str::to_string);
    let (content, media) = match media_kind {
        None => {
            let message = message
                .filter(|m| !m.trim().is_empty())
                .ok_or_else(|| WapError::bad("message is required when message_type is 'text'"))?;
            for (field, present) in [
                ("media_url", media_url.is_some()),
                ("caption", caption.is_some()),
                ("filename", filename.is_some()),
            ] {
                if present {
                    return Err(WapError::bad(format!(
                        "{field} is only for media messages (image, video, audio, document)"
                    )));
                }
            }
            let content = match buttons {
                None => {
                    if chars(message) > MAX_TEXT {
                        return Err(WapError::bad(format!(
                            "message must be at most {MAX_TEXT} characters, got {}",
                            chars(message)
                        )));
                    }
                    OutboundContent::Text {
                        body: message.to_string(),
                        preview_url: false,
                    }
                }
                Some(b) => {
                    let parsed = waplify_buttons::parse(&b)
                        .map_err(|m| WapError::detail(StatusCode::UNPROCESSABLE_ENTITY, m))?;
                    if chars(message) > MAX_BUTTON_TEXT {
                        return Err(WapError::detail(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            format!(
                                "message must be at most {MAX_BUTTON_TEXT} characters when buttons are present, got {}",
                                chars(message)
                            ),
                        ));
                    }
                    match parsed {
                        Buttons::Reply(buttons) => OutboundContent::Buttons {
                            body: message.to_string(),
                            header: None,
                            footer: None,
                            buttons,
                        },
                        Buttons::Url { display_text, url } => OutboundContent::UrlButton {
                            body: message.to_string(),
                            header: None,
                            footer: None,
                            display_text,
                            url,
                        },
                    }
                }
            };
            (content, None)
        }
        Some(kind) => {
            if buttons.is_some() {
                return Err(WapError::detail(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!(
                        "buttons are only supported with message_type 'text', not '{message_type}'"
                    ),
                ));
            }
            if message.is_some() {
                return Err(WapError::bad(format!(
                    "message is only for text messages; use caption with message_type '{message_type}'"
                )));
            }
            let url = media_url.ok_or_else(|| {
                WapError::bad(format!(
                    "media_url is required when message_type is '{message_type}'"
                ))
            })?;
            let url = media::parse_url("media_url", url)?.to_string();
            if let Some(c) = caption {
                if kind == MediaKind::Audio {
                    return Err(WapError::bad("caption is not supported for audio messages"));
                }
                if chars(c) > MAX_CAPTION {
                    return Err(WapError::bad(format!(
                        "caption must be at most {MAX_CAPTION} characters, got {}",
                        chars(c)
                    )));
                }
            }
            if filename.is_some() && kind != MediaKind::Document {
                return Err(WapError::bad("filename is only for document messages"));
            }
            let content = OutboundContent::Media {
                media: kind,
                link: url.clone(),
                caption: caption.map(str::to_string),
                filename: filename.map(str::to_string),
            };
            (content, Some((kind, url)))
        }
    };
    Ok(Request {
        to,
        name: name.map(str::to_string),
        message_type,
        content,
        media,
        waba,
    })
}

pub async fn send_message(
    State(st): State<AppState>,
    Extension(ctx): Extension<Arc<ApiContext>>,
    body: Bytes,
) -> Result<Json<Value>, WapError> {
    let f = Fields::parse(&body).map_err(|e| WapError::bad(e.to_string()))?;
    let req = read(&f)?;
    let sender = pick_sender(&st, req.waba.as_deref()).ok_or_else(|| {
        WapError::detail(
            StatusCode::NOT_FOUND,
            match &req.waba {
                Some(w) => format!("WhatsApp number {w} not found"),
                None => "No WhatsApp number is configured".to_string(),
            },
        )
    })?;
    if send::is_offline(&st, sender.id).await? {
        return Err(WapError::detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "WhatsApp number is not online. Current status: Offline",
        ));
    }
    let contact = ContactRef::Phone(req.to.clone());
    let conversation = st
        .store
        .find_conversation(sender.id, &contact.key())
        .await?;
    let window = window_of(&st, conversation.as_ref()).await?;
    if !window.is_open {
        let last = conversation.as_ref().and_then(|c| c.last_inbound_at);
        return Err(WapError::detail(
            StatusCode::FORBIDDEN,
            closed_window_detail(last),
        ));
    }
    if let Some((kind, url)) = &req.media {
        media::check(&ctx.media_http, &st.config.api.media_check, *kind, url).await?;
    }
    if send::over_budget(&st, sender, req.content.kind_name()).await? {
        return Err(WapError::detail(
            StatusCode::PAYMENT_REQUIRED,
            "Insufficient balance. Please top up your account.",
        ));
    }
    let now = st.clock.now();
    let mut conversation = st
        .store
        .ensure_conversation(sender.id, &contact, req.name.as_deref(), now)
        .await?;
    let named = st
        .store
        .contact(conversation.contact_id)
        .await?
        .is_some_and(|c| c.name.is_some());
    if !named {
        let default = format!("User #{}", conversation.contact_id);
        conversation = st
            .store
            .ensure_conversation(sender.id, &contact, Some(&default), now)
            .await?;
    }
    let id = send::enqueue(
        &st,
        sender.id,
        conversation.id,
        OutboundMessage {
            to: contact,
            content: req.content,
        },
    )
    .await?;
    Ok(Json(json!({
        "status": "success",
        "message": "Message sent successfully",
        "message_id": parley_message_id(id),
        "contact_id": conversation.contact_id.to_string(),
        "message_type": req.message_type,
        "timestamp": now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    })))
}

/// The seed's two 403 texts: never wrote, or wrote too long ago.
pub fn closed_window_detail(last_inbound: Option<chrono::DateTime<chrono::Utc>>) -> String {
    match last_inbound {
        None => "Cannot send free-form message: No inbound message found from this contact. The 24-hour customer service window is not open. Use the template-based /send endpoint instead.".to_string(),
        Some(at) => format!(
            "Cannot send free-form message: The 24-hour customer service window has expired. Last inbound message was at {}. Use the template-based /send endpoint instead.",
            seed_time(at)
        ),
    }
}
