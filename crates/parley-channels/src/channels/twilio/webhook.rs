//! Twilio WhatsApp webhooks: the form Twilio POSTs for an inbound message or a status
//! callback, turned into `Routed` domain events.
//!
//! Inbound messages are routed by our business number in `To`, status callbacks by our number
//! in `From`. Twilio sends no timestamp on either, so `timestamp` is always `None` and the
//! caller uses the receipt time. Signature checking lives in `signature` (re-exported here so
//! the HTTP handler needs one module); this module trusts its input has been verified.

use super::error_codes::known_error_title;
use crate::domain::{
    is_user_id, ContactRef, DeliveryStatus, InboundContent, InboundMessage, MediaKind, PhoneError,
    PhoneNumber, ProviderError, Referral, ReplyContext, RouteKey, Routed, StatusUpdate,
    WebhookItem,
};

pub use super::signature::verify_signature;

#[derive(Debug, thiserror::Error)]
pub enum TwilioWebhookError {
    #[error("body is not UTF-8 text once its %-escapes are decoded")]
    NotUtf8,
    #[error(
        "body has {0} parameters; Twilio sends a few dozen (at most {MAX_FORM_PARAMS} are read)"
    )]
    TooManyParams(usize),
    #[error("required parameter `{0}` is missing or empty")]
    Missing(&'static str),
    #[error("parameter `{name}` = `{value}` cannot be read: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// The URL-decoded parameters of a form body, in the order they were sent. Repeated names are
/// kept: the signature covers every value. A name or value that is not UTF-8 once decoded
/// (`Body=%ff`) is refused, not read with replacement characters.
/// The most parameters a Twilio webhook form may have. Twilio's callbacks carry about 40
/// (ten media URLs and their types included).
pub const MAX_FORM_PARAMS: usize = 200;

pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, TwilioWebhookError> {
    // Counted before anything is allocated: a 1 MiB body of `a&a&…` is half a million
    // pairs, each decoded, sorted and hashed before the signature could refuse it.
    let pairs = body.split(|&b| b == b'&').filter(|p| !p.is_empty()).count();
    if pairs > MAX_FORM_PARAMS {
        return Err(TwilioWebhookError::TooManyParams(pairs));
    }
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            Ok((form_decoded(name)?, form_decoded(value)?))
        })
        .collect()
}

/// One part of a form body with `+` as a space and `%XX` escapes decoded (a `%` not
/// followed by two hex digits stays as written, as browsers and Twilio's own libraries do).
fn form_decoded(part: &[u8]) -> Result<String, TwilioWebhookError> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(part.len());
    let mut i = 0;
    while i < part.len() {
        match part[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                part.get(i + 1).and_then(|&b| hex(b)),
                part.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| TwilioWebhookError::NotUtf8)
}

/// Translates one Twilio webhook into domain events: one message, one status, or nothing for
/// statuses that are not delivery progress (`queued`, `sending`, …) or that Parley does not
/// know. Only a webhook that cannot be routed or identified (no `MessageSid`, `From`, `To`)
/// is an error; content Parley cannot read becomes an `Unsupported` message.
pub fn parse(params: &[(String, String)]) -> Result<Vec<Routed>, TwilioWebhookError> {
    let form = Form(params);
    // Status callbacks carry `MessageStatus`; inbound messages do not (`SmsStatus=received`).
    match form.get("MessageStatus") {
        Some(status) => parse_status(&form, status),
        None => parse_message(&form).map(|routed| vec![routed]),
    }
}

/// Statuses that only repeat what the send call already told Parley (or concern messages it
/// does not send this way), ignored on purpose and not counted as dropped.
const QUIET_STATUSES: &[&str] = &[
    "queued",
    "accepted",
    "sending",
    "scheduled",
    "receiving",
    "received",
];

fn parse_status(form: &Form, raw_status: &str) -> Result<Vec<Routed>, TwilioWebhookError> {
    // `parse` reads `undelivered` as failed. Queued/accepted/sending only repeat what the
    // send call already told us, so they are not reported again.
    use DeliveryStatus::{Delivered, Failed, Read, Sent};
    let status = match DeliveryStatus::parse(raw_status) {
        Some(s @ (Sent | Delivered | Read | Failed)) => s,
        _ if QUIET_STATUSES.contains(&raw_status) => return Ok(Vec::new()),
        _ => {
            crate::channels::dropped::dropped(
                "twilio",
                "statuses",
                raw_status,
                "a message status Parley does not act on",
            );
            return Ok(Vec::new());
        }
    };
    // An unreadable error code does not hide the status it came with.
    let error = form.get("ErrorCode").and_then(|code| {
        match provider_error(code, form.get("ErrorMessage")) {
            Ok(error) => Some(error),
            Err(e) => {
                unparsed("status", &e);
                None
            }
        }
    });
    let update = StatusUpdate {
        provider_message_id: message_sid(form)?,
        status,
        timestamp: None,
        recipient: form.get("To").map(|to| without_channel(to).to_string()),
        error,
        outbox_id: None,
        pricing: None,
    };
    Ok(vec![Routed {
        route: business_number(form, "From")?,
        item: WebhookItem::Status(update),
    }])
}

fn parse_message(form: &Form) -> Result<Routed, TwilioWebhookError> {
    let message = InboundMessage {
        provider_message_id: message_sid(form)?,
        from: with_user_id(
            contact(form.require("From")?)?,
            form.get("ExternalUserIdentifier"),
        ),
        profile_name: form.get("ProfileName").map(str::to_string),
        username: form.get("ProfileUsername").map(str::to_string),
        timestamp: None,
        // A content Parley cannot read (a latitude that is not a number…) is kept as
        // unsupported rather than refusing the webhook, which Twilio would retry.
        content: content(form).unwrap_or_else(|e| {
            unparsed("message", &e);
            InboundContent::Unsupported {
                original_type: form.get("MessageType").map(str::to_string),
                errors: Vec::new(),
            }
        }),
        context: form
            .get("OriginalRepliedMessageSid")
            .map(|id| ReplyContext {
                message_id: id.to_string(),
                from: form
                    .get("OriginalRepliedMessageSender")
                    .map(|s| without_channel(s).to_string()),
            }),
        referral: referral(form),
    };
    Ok(Routed {
        route: business_number(form, "To")?,
        item: WebhookItem::Message(message),
    })
}

fn content(form: &Form) -> Result<InboundContent, TwilioWebhookError> {
    let message_type = form.get("MessageType");
    let body = form.get("Body");
    let num_media = match form.get("NumMedia") {
        Some(n) => n
            .parse::<u32>()
            .map_err(|e| invalid("NumMedia", n, e.to_string()))?,
        None => 0,
    };
    let is_location = match message_type {
        Some(t) => t == "location",
        // Older webhooks have no `MessageType`; coordinates alone identify a location.
        None => form.get("Latitude").is_some(),
    };
    Ok(match message_type {
        _ if is_location => location(form)?,
        Some("interactive") if form.get("ButtonPayload").is_some() => InboundContent::ButtonReply {
            id: form.get("ButtonPayload").unwrap_or_default().to_string(),
            title: form
                .get("ButtonText")
                .or(body)
                .unwrap_or_default()
                .to_string(),
        },
        // A row picked from a `twilio/list-picker` Parley sent for a `list`.
        Some("interactive") if form.get("ListId").is_some() => InboundContent::ListReply {
            id: form.get("ListId").unwrap_or_default().to_string(),
            title: form
                .get("ListTitle")
                .or(body)
                .unwrap_or_default()
                .to_string(),
            description: None,
        },
        // A quick-reply button of an approved template.
        Some("button") => {
            let text = form.get("ButtonText").or(body).unwrap_or_default();
            InboundContent::QuickReply {
                // A button defined without a payload reports its text, as on Meta.
                payload: form.get("ButtonPayload").unwrap_or(text).to_string(),
                text: text.to_string(),
            }
        }
        _ if num_media > 0 => media(form, message_type, body),
        Some("text") => InboundContent::Text {
            body: body.unwrap_or_default().to_string(),
        },
        _ => match body {
            Some(body) => InboundContent::Text {
                body: body.to_string(),
            },
            None => InboundContent::Unsupported {
                original_type: message_type.map(str::to_string),
                errors: Vec::new(),
            },
        },
    })
}

/// WhatsApp messages carry one attachment, so only `MediaUrl0` is read. Twilio does not say
/// whether audio was a recorded voice note, nor give a filename.
fn media(form: &Form, message_type: Option<&str>, caption: Option<&str>) -> InboundContent {
    let mime_type = form.get("MediaContentType0");
    let media = message_type
        .and_then(MediaKind::parse)
        .or_else(|| mime_type.map(media_kind_of_mime))
        .unwrap_or(MediaKind::Document);
    InboundContent::Media {
        media,
        media_id: None,
        url: form.get("MediaUrl0").map(str::to_string),
        mime_type: mime_type.map(str::to_string),
        sha256: None,
        caption: caption.map(str::to_string),
        filename: None,
        voice: false,
    }
}

fn media_kind_of_mime(mime: &str) -> MediaKind {
    match mime.split('/').next().unwrap_or_default() {
        "image" => MediaKind::Image,
        "video" => MediaKind::Video,
        "audio" => MediaKind::Audio,
        _ => MediaKind::Document,
    }
}

fn location(form: &Form) -> Result<InboundContent, TwilioWebhookError> {
    Ok(InboundContent::Location {
        latitude: coordinate(form, "Latitude", 90.0)?,
        longitude: coordinate(form, "Longitude", 180.0)?,
        name: form.get("Label").map(str::to_string),
        address: form.get("Address").map(str::to_string),
        url: None,
    })
}

fn coordinate(form: &Form, name: &'static str, limit: f64) -> Result<f64, TwilioWebhookError> {
    let raw = form.require(name)?;
    let value: f64 = raw
        .trim()
        .parse()
        .map_err(|_| invalid(name, raw, "not a number".into()))?;
    if !value.is_finite() || value.abs() > limit {
        return Err(invalid(
            name,
            raw,
            format!("must be between -{limit} and {limit}"),
        ));
    }
    Ok(value)
}

/// Click-to-WhatsApp ad fields; `ReferralNumMedia=0` is sent on every message and proves
/// nothing, so only the descriptive fields count.
fn referral(form: &Form) -> Option<Referral> {
    let field = |name| form.get(name).map(str::to_string);
    let referral = Referral {
        source_url: field("ReferralSourceUrl"),
        source_id: field("ReferralSourceId"),
        source_type: field("ReferralSourceType"),
        headline: field("ReferralHeadline"),
        body: field("ReferralBody"),
        ctwa_clid: field("ReferralCtwaClid"),
    };
    let any = [
        &referral.source_url,
        &referral.source_id,
        &referral.source_type,
        &referral.headline,
        &referral.body,
        &referral.ctwa_clid,
    ]
    .iter()
    .any(|f| f.is_some());
    any.then_some(referral)
}

fn provider_error(code: &str, message: Option<&str>) -> Result<ProviderError, TwilioWebhookError> {
    let code: i64 = code
        .trim()
        .parse()
        .map_err(|_| invalid("ErrorCode", code, "not a number".into()))?;
    let title = match (message, known_error_title(code)) {
        (Some(message), _) => message.to_string(),
        (None, Some(known)) => known.to_string(),
        (None, None) => format!("Twilio error {code}"),
    };
    Ok(ProviderError {
        code,
        title,
        details: None,
    })
}

/// `MessageSid`, or `SmsMessageSid` on older webhooks.
fn message_sid(form: &Form) -> Result<String, TwilioWebhookError> {
    form.get("MessageSid")
        .or_else(|| form.get("SmsMessageSid"))
        .map(str::to_string)
        .ok_or(TwilioWebhookError::Missing("MessageSid"))
}

/// Our own WhatsApp sender, which must be a phone number.
fn business_number(form: &Form, name: &'static str) -> Result<RouteKey, TwilioWebhookError> {
    let raw = form.require(name)?;
    let phone = PhoneNumber::parse(raw).map_err(|e| invalid(name, raw, e.to_string()))?;
    Ok(RouteKey::TwilioNumber(phone.as_e164().to_string()))
}

/// `whatsapp:+E164` is a phone; since 2026 users who hide their number arrive as
/// `whatsapp:<business-scoped user id>`, which has letters in it.
fn contact(raw: &str) -> Result<ContactRef, TwilioWebhookError> {
    let id = without_channel(raw).trim();
    match PhoneNumber::parse(id) {
        Ok(phone) => Ok(ContactRef::Phone(phone)),
        Err(PhoneError::InvalidCharacter) if raw.starts_with("whatsapp:") && is_user_id(id) => {
            Ok(ContactRef::BusinessScoped(id.to_string()))
        }
        Err(e) => Err(invalid("From", raw, e.to_string())),
    }
}

/// Twilio's Programmable Messaging names the business-scoped user id of a sender whose
/// `From` is a phone in `ExternalUserIdentifier` (2026); both are kept so the contact is
/// joined. Anything not shaped like a BSUID is ignored.
fn with_user_id(from: ContactRef, external: Option<&str>) -> ContactRef {
    let user_id = external
        .map(|id| without_channel(id).trim())
        .filter(|id| is_user_id(id));
    match (from, user_id) {
        (ContactRef::Phone(phone), Some(id)) => ContactRef::PhoneAndBusinessScoped {
            phone,
            user_id: id.to_string(),
        },
        (from, _) => from,
    }
}

/// Logs and counts a part of a verified webhook that could not be read.
pub fn unparsed(kind: &'static str, error: &TwilioWebhookError) {
    metrics::counter!(crate::metrics::WEBHOOK_ITEMS_UNPARSED, "provider" => "twilio", "kind" => kind)
        .increment(1);
    tracing::warn!(provider = "twilio", kind, %error, "part of a Twilio webhook could not be read; acknowledged");
}

fn without_channel(address: &str) -> &str {
    address.strip_prefix("whatsapp:").unwrap_or(address)
}

fn invalid(name: &'static str, value: &str, reason: String) -> TwilioWebhookError {
    TwilioWebhookError::Invalid {
        name,
        value: value.to_string(),
        reason,
    }
}

/// Lookup over the decoded pairs. Twilio sends optional fields as empty strings (`Body=` on a
/// location), so empty reads as absent.
struct Form<'a>(&'a [(String, String)]);

impl Form<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn require(&self, name: &'static str) -> Result<&str, TwilioWebhookError> {
        self.get(name).ok_or(TwilioWebhookError::Missing(name))
    }
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
