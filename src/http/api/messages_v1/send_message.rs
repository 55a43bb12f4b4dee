//! `POST /api/v1/messages/send-message` (seed 003) — free-form text, media or buttons to a
//! contact by phone number (digits with country code, no `+`), with that platform's own
//! success body and error shapes (`{"error": "bad_request", "message": …}` for bad input,
//! `{"detail": …}` otherwise; see `crate::http::error`). Unlike the hosted platforms' API,
//! a missing or mistyped field and a malformed URL are a 400, not a 422.
//!
//! Decisions: the sender is the one whose phone number digits or Meta `phone_number_id`
//! equal `waba_phone_id`; without it, the only sender, else the first Meta sender, else the
//! first sender. The contact is created (or renamed to `contact_name`) only once the message
//! is accepted; a contact without a name is named `User #<contact id>`. `message_id` is
//! `parley-<id>` (the outbound message's id; the provider's wamid is only known once the
//! outbox sent it, see `GET /api/conversations/{id}/messages`), `contact_id` the contact's
//! id as a string.

use super::buttons::{self, Buttons};
use crate::config::{ChannelKind, SenderConfig};
use crate::domain::session::platform_time;
use crate::domain::{ContactRef, MediaKind, OutboundContent, OutboundMessage, PhoneNumber};
use crate::http::api::body::{chars, FieldError, Fields};
use crate::http::api::common::ApiContext;
use crate::http::api::common::MAX_TEXT;
use crate::http::api::media::{self, MediaProblem};
use crate::http::api::outbox::{self, parley_message_id};
use crate::http::api::session::window_of;
use crate::http::error::Error;
use crate::http::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{json, Value};
use std::sync::Arc;

const MAX_CAPTION: usize = crate::domain::limits::BODY_MAX;
const MAX_BUTTON_TEXT: usize = crate::domain::limits::BODY_MAX;
const MAX_NAME: usize = 255;

/// A missing or mistyped field: 400 here.
fn bad_field(e: FieldError) -> Error {
    Error::bad_request(e.message)
}

/// A malformed media URL is a 400 here; a file that does not qualify a 422, as elsewhere.
fn media_refused(p: MediaProblem) -> Error {
    match p {
        MediaProblem::BadUrl(m) => Error::bad_request(m),
        unacceptable => Error::from(unacceptable),
    }
}

/// A `buttons` object this API cannot send: 422.
fn bad_buttons(message: impl Into<String>) -> Error {
    Error::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BUTTONS", message)
}

/// `911234567890`: digits only, with the country code.
fn contact_phone(value: &str) -> Result<PhoneNumber, Error> {
    let v = value.trim();
    let invalid = || Error::bad_request("Invalid phone number format");
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

fn read(f: &Fields) -> Result<Request, Error> {
    let to = contact_phone(f.str("contact_phone").map_err(bad_field)?)?;
    let name = f
        .opt_label("contact_name")
        .map_err(bad_field)?
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if name.is_some_and(|n| chars(n) > MAX_NAME) {
        return Err(Error::bad_request(format!(
            "contact_name must be at most {MAX_NAME} characters"
        )));
    }
    let message_type = f
        .str("message_type")
        .map_err(bad_field)?
        .trim()
        .to_ascii_lowercase();
    let media_kind = match message_type.as_str() {
        "text" => None,
        "image" | "video" | "audio" | "document" => MediaKind::parse(&message_type),
        _ => {
            return Err(Error::bad_request(
                "message_type must be one of: text, image, video, audio, document",
            ))
        }
    };
    let buttons = f
        .opt_object("buttons")
        .map_err(|e| bad_buttons(e.message))?;
    let message = f.opt_str("message").map_err(bad_field)?;
    let media_url = f.opt_str("media_url").map_err(bad_field)?;
    let caption = f.opt_str("caption").map_err(bad_field)?;
    let filename = f.opt_str("filename").map_err(bad_field)?;
    if let Some(name) = filename {
        let n = chars(name);
        if n > crate::domain::limits::FILENAME_MAX {
            return Err(Error::bad_request(format!(
                "filename must be at most {} characters, got {n}",
                crate::domain::limits::FILENAME_MAX
            )));
        }
    }
    let waba = f
        .opt_str("waba_phone_id")
        .map_err(bad_field)?
        .map(str::to_string);
    let parts = Parts {
        message,
        media_url,
        caption,
        filename,
        buttons,
    };
    let (content, media) = match media_kind {
        None => (text(parts)?, None),
        Some(kind) => {
            let (content, media) = media_message(kind, &message_type, parts)?;
            (content, Some(media))
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

/// The fields of the body that make the message's content, as read.
struct Parts<'a> {
    message: Option<&'a str>,
    media_url: Option<&'a str>,
    caption: Option<&'a str>,
    filename: Option<&'a str>,
    buttons: Option<Fields>,
}

/// A text message: `message`, with reply or URL buttons when `buttons` is given; the media
/// fields are refused.
fn text(parts: Parts<'_>) -> Result<OutboundContent, Error> {
    let Parts {
        message,
        media_url,
        caption,
        filename,
        buttons,
    } = parts;
    let message = message
        .filter(|m| !crate::domain::limits::is_blank(m))
        .ok_or_else(|| Error::bad_request("message is required when message_type is 'text'"))?;
    if let Some(why) = crate::domain::limits::text_control_problem(message) {
        return Err(Error::bad_request(format!("message {why}")));
    }
    for (field, present) in [
        ("media_url", media_url.is_some()),
        ("caption", caption.is_some()),
        ("filename", filename.is_some()),
    ] {
        if present {
            return Err(Error::bad_request(format!(
                "{field} is only for media messages (image, video, audio, document)"
            )));
        }
    }
    match buttons {
        None => {
            if chars(message) > MAX_TEXT {
                return Err(Error::bad_request(format!(
                    "message must be at most {MAX_TEXT} characters, got {}",
                    chars(message)
                )));
            }
            Ok(OutboundContent::Text {
                body: message.to_string(),
                preview_url: false,
            })
        }
        Some(b) => with_buttons(message, &b),
    }
}

/// `message` with the reply buttons or the URL button that `b` describes.
fn with_buttons(message: &str, b: &Fields) -> Result<OutboundContent, Error> {
    let parsed = buttons::parse(b).map_err(bad_buttons)?;
    if chars(message) > MAX_BUTTON_TEXT {
        return Err(bad_buttons(format!(
            "message must be at most {MAX_BUTTON_TEXT} characters when buttons are present, got {}",
            chars(message)
        )));
    }
    Ok(match parsed {
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
    })
}

/// A media message of `kind` (`message_type` as given): its content, and its kind and URL
/// to check before accepting.
fn media_message(
    kind: MediaKind,
    message_type: &str,
    parts: Parts<'_>,
) -> Result<(OutboundContent, (MediaKind, String)), Error> {
    let Parts {
        message,
        media_url,
        caption,
        filename,
        buttons,
    } = parts;
    if buttons.is_some() {
        return Err(bad_buttons(format!(
            "buttons are only supported with message_type 'text', not '{message_type}'"
        )));
    }
    if message.is_some() {
        return Err(Error::bad_request(format!(
            "message is only for text messages; use caption with message_type '{message_type}'"
        )));
    }
    let url = media_url.ok_or_else(|| {
        Error::bad_request(format!(
            "media_url is required when message_type is '{message_type}'"
        ))
    })?;
    let url = media::parse_url("media_url", url)
        .map_err(media_refused)?
        .to_string();
    if let Some(c) = caption {
        if kind == MediaKind::Audio {
            return Err(Error::bad_request(
                "caption is not supported for audio messages",
            ));
        }
        if chars(c) > MAX_CAPTION {
            return Err(Error::bad_request(format!(
                "caption must be at most {MAX_CAPTION} characters, got {}",
                chars(c)
            )));
        }
    }
    if filename.is_some() && kind != MediaKind::Document {
        return Err(Error::bad_request("filename is only for document messages"));
    }
    let content = OutboundContent::Media {
        media: kind,
        link: url.clone(),
        caption: caption.map(str::to_string),
        filename: filename.map(str::to_string),
    };
    Ok((content, (kind, url)))
}

pub async fn send_message(
    State(st): State<AppState>,
    Extension(ctx): Extension<Arc<ApiContext>>,
    body: Bytes,
) -> Result<Json<Value>, Error> {
    let f = Fields::parse(&body).map_err(|e| Error::bad_request(e.to_string()))?;
    let req = read(&f)?;
    let sender = pick_sender(&st, req.waba.as_deref()).ok_or_else(|| {
        Error::new(
            StatusCode::NOT_FOUND,
            "SENDER_NOT_FOUND",
            match &req.waba {
                Some(w) => format!("WhatsApp number {w} not found"),
                None => "No WhatsApp number is configured".to_string(),
            },
        )
    })?;
    if let Some(refused) = crate::http::api::auth::sender_refusal(sender.id) {
        return Err(refused);
    }
    if outbox::is_offline(&st, sender.id).await? {
        return Err(Error::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SENDER_OFFLINE",
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
        return Err(Error::new(
            StatusCode::FORBIDDEN,
            "SESSION_EXPIRED",
            closed_window_detail(last),
        ));
    }
    if let Some((kind, url)) = &req.media {
        media::check(&ctx.media_http, &st.config.api.media_check, *kind, url)
            .await
            .map_err(media_refused)?;
    }
    let (cost, _) = outbox::price(&st, conversation.as_ref(), &contact, &req.content);
    if outbox::over_budget(&st, sender, cost.price_micros).await? {
        return Err(Error::insufficient_balance());
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
    let id = outbox::enqueue(
        &st,
        sender.id,
        &conversation,
        OutboundMessage {
            to: contact,
            content: req.content,
            trace: crate::telemetry::active().map(|a| a.parent),
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

/// The two 403 texts: never wrote, or wrote too long ago.
pub fn closed_window_detail(last_inbound: Option<chrono::DateTime<chrono::Utc>>) -> String {
    match last_inbound {
        None => "Cannot send free-form message: No inbound message found from this contact. The 24-hour customer service window is not open. Use the template-based /send endpoint instead.".to_string(),
        Some(at) => format!(
            "Cannot send free-form message: The 24-hour customer service window has expired. Last inbound message was at {}. Use the template-based /send endpoint instead.",
            platform_time(at)
        ),
    }
}
