//! The content of `POST /api/conversations/{id}/messages`, read by its `type` (text,
//! media, a location, a location request, a reaction) and checked against WhatsApp's
//! limits, each refusal naming its field.

use crate::domain::{MediaKind, OutboundContent};
use crate::http::api::body::{chars, FieldError, Fields};
use crate::http::api::common::MAX_TEXT;
use crate::http::api::media;
use crate::http::error::Error;

const MAX_CAPTION: usize = crate::domain::limits::BODY_MAX;
const MAX_LOCATION_TEXT: usize = 1000;

/// A message's content, and the media (its kind and URL) to check before it is queued.
pub(super) type Content = (OutboundContent, Option<(MediaKind, String)>);

pub(super) fn content(f: &Fields) -> Result<Content, Error> {
    let kind = f.str("type")?.trim().to_ascii_lowercase();
    match kind.as_str() {
        "text" => text(f),
        "image" | "video" | "audio" | "document" => media_by_url(f, &kind),
        "location" => location(f),
        "location_request" => location_request(f),
        "reaction" => reaction(f),
        _ => Err(Error::field(
            "type",
            "type must be one of: text, image, video, audio, document, location, location_request, reaction",
        )),
    }
}

fn text(f: &Fields) -> Result<Content, Error> {
    let text = match f.opt_str("text")? {
        Some(t) => t,
        None => f
            .opt_str("message")?
            .ok_or_else(|| FieldError::new("text", "text is required when type is 'text'"))?,
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

/// An image, video, audio or document (`kind`) by its URL.
fn media_by_url(f: &Fields, kind: &str) -> Result<Content, Error> {
    let media = MediaKind::parse(kind).unwrap_or(MediaKind::Document);
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

fn location(f: &Fields) -> Result<Content, Error> {
    let loc = f.opt_object("location")?.ok_or_else(|| {
        FieldError::new("location", "location is required when type is 'location'")
    })?;
    let at = |e: FieldError| {
        Error::field(
            &format!("location.{}", e.field),
            format!("location.{}", e.message),
        )
    };
    let latitude = loc
        .opt_f64("latitude")
        .map_err(at)?
        .ok_or_else(|| Error::field("location.latitude", "location.latitude is required"))?;
    let longitude = loc
        .opt_f64("longitude")
        .map_err(at)?
        .ok_or_else(|| Error::field("location.longitude", "location.longitude is required"))?;
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

/// A message asking the customer to share their location.
fn location_request(f: &Fields) -> Result<Content, Error> {
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
            format!("text must be at most {max} characters, got {}", chars(text)),
        ));
    }
    Ok((
        OutboundContent::LocationRequest {
            body: text.to_string(),
        },
        None,
    ))
}

/// A reaction to the customer's message (an empty emoji removes it).
fn reaction(f: &Fields) -> Result<Content, Error> {
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
