//! A customer message typed into the sandbox (API, `simulate`, flow tests) becomes an
//! `InboundMessage` and goes through the same ingest path as a provider webhook: stored,
//! deduplicated by its id, then handled by the inbox.

use super::Sandbox;
use crate::domain::form;
use crate::domain::{Clock, InboundContent, InboundMessage, MediaKind, PhoneNumber, Referral};
use crate::store::{Id, IngestItem, IngestOutcome};
use crate::workers::ingest::Ingestor;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What a customer sends: exactly one of `text`, `button`, `list`, `quick_reply`, `media`,
/// `location`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerMessage {
    /// The customer's number, like `+34600000001`.
    pub from: String,
    /// Their WhatsApp profile name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A sandbox sender; the first one when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<i64>,
    /// The provider message id; send the same id twice to test deduplication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button: Option<Tap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<Tap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quick_reply: Option<Tap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<Media>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Submits a form the bot sent (a WhatsApp Flow), with the token it came with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<FormSubmission>,
    /// Submits WhatsApp's address form (India): `name`, `in_pin_code`, `city`…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<BTreeMap<String, String>>,
    /// Came from a click-to-WhatsApp ad with this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral: Option<String>,
}

/// A filled-in form: the `flow_token` of the form message and the fields' values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormSubmission {
    pub token: String,
    #[serde(default)]
    pub response: Map<String, Value>,
}

/// A tapped reply button, list row or template quick reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tap {
    pub id: String,
    /// What the customer saw; the id when left out.
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Media {
    /// image, video, audio, document or sticker.
    pub kind: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    /// The file itself, base64: kept in the media store like a provider's download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Its type (`image/png`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

/// What became of an injected message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Injected {
    pub sender_id: i64,
    pub provider_message_id: String,
    /// The stored event, to ask for its trace; `None` for a duplicate.
    pub event_id: Option<Id>,
    pub conversation_id: Option<Id>,
    pub duplicate: bool,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InjectError {
    #[error("{0}")]
    Invalid(String),
    /// A field longer than WhatsApp lets a customer write; nothing is stored.
    #[error("{field} is {len} characters long; WhatsApp allows at most {limit}")]
    TooLong {
        field: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("storing the message failed: {0}")]
    Store(String),
}

/// The longest profile name a sandbox customer may have (WhatsApp's are far shorter).
pub const NAME_MAX: usize = 256;
/// The longest id, title, file name or place name a sandbox customer may send.
const SHORT_TEXT_MAX: usize = 1_024;

impl CustomerMessage {
    /// Refuses what no customer can write on WhatsApp: a text or caption over 4,096
    /// characters (`limits::TEXT_MAX`), a name over [`NAME_MAX`], and so on.
    fn check_lengths(&self) -> Result<(), InjectError> {
        use crate::domain::limits::TEXT_MAX;
        let taps = [
            ("button", &self.button),
            ("list", &self.list),
            ("quick_reply", &self.quick_reply),
        ];
        let media = self.media.as_ref();
        let location = self.location.as_ref();
        let mut fields: Vec<(&'static str, Option<&String>, usize)> = vec![
            ("text", self.text.as_ref(), TEXT_MAX),
            (
                "media.caption",
                media.and_then(|m| m.caption.as_ref()),
                TEXT_MAX,
            ),
            ("name", self.name.as_ref(), NAME_MAX),
            ("id", self.id.as_ref(), SHORT_TEXT_MAX),
            ("referral", self.referral.as_ref(), SHORT_TEXT_MAX),
            (
                "media.url",
                media.and_then(|m| m.url.as_ref()),
                SHORT_TEXT_MAX,
            ),
            (
                "media.filename",
                media.and_then(|m| m.filename.as_ref()),
                SHORT_TEXT_MAX,
            ),
            (
                "location.name",
                location.and_then(|l| l.name.as_ref()),
                SHORT_TEXT_MAX,
            ),
            (
                "location.address",
                location.and_then(|l| l.address.as_ref()),
                SHORT_TEXT_MAX,
            ),
        ];
        for (field, tap) in taps {
            if let Some(t) = tap {
                fields.push((field, Some(&t.id), SHORT_TEXT_MAX));
                fields.push((field, t.title.as_ref(), SHORT_TEXT_MAX));
            }
        }
        for (field, value, limit) in fields {
            let len = value.map_or(0, |v| v.chars().count());
            if len > limit {
                return Err(InjectError::TooLong { field, len, limit });
            }
        }
        Ok(())
    }

    pub fn text(from: &str, text: &str) -> Self {
        Self {
            from: from.into(),
            text: Some(text.into()),
            ..Default::default()
        }
    }

    /// The message as Parley receives it.
    pub fn content(&self) -> Result<InboundContent, InjectError> {
        self.check_lengths()?;
        let invalid = |m: &str| Err(InjectError::Invalid(m.to_string()));
        let given = [
            self.text.is_some(),
            self.button.is_some(),
            self.list.is_some(),
            self.quick_reply.is_some(),
            self.media.is_some(),
            self.location.is_some(),
            self.form.is_some(),
            self.address.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if given != 1 {
            return invalid(
                "give exactly one of text, button, list, quick_reply, media, location, form, address",
            );
        }
        let title = |t: &Tap| t.title.clone().unwrap_or_else(|| t.id.clone());
        Ok(if let Some(text) = &self.text {
            if text.trim().is_empty() {
                return invalid("text must not be empty");
            }
            InboundContent::Text { body: text.clone() }
        } else if let Some(t) = &self.button {
            InboundContent::ButtonReply {
                id: t.id.clone(),
                title: title(t),
            }
        } else if let Some(t) = &self.list {
            InboundContent::ListReply {
                id: t.id.clone(),
                title: title(t),
                description: None,
            }
        } else if let Some(t) = &self.quick_reply {
            InboundContent::QuickReply {
                payload: t.id.clone(),
                text: title(t),
            }
        } else if let Some(m) = &self.media {
            let Some(media) = MediaKind::parse(&m.kind) else {
                return invalid("media.kind must be image, video, audio, document or sticker");
            };
            InboundContent::Media {
                media,
                media_id: Some(format!("sandbox.media.{}", uuid::Uuid::new_v4().simple())),
                url: m.url.clone(),
                mime_type: m.mime_type.clone(),
                sha256: None,
                caption: m.caption.clone(),
                filename: m.filename.clone(),
                voice: false,
            }
        } else if let Some(l) = &self.location {
            // As a real phone sends them (and Twilio's webhook is read): on the globe.
            if !(-90.0..=90.0).contains(&l.latitude) || !(-180.0..=180.0).contains(&l.longitude) {
                return invalid(
                    "location: latitude must be between -90 and 90 and longitude between -180 and 180",
                );
            }
            InboundContent::Location {
                latitude: l.latitude,
                longitude: l.longitude,
                name: l.name.clone(),
                address: l.address.clone(),
                url: None,
            }
        } else if let Some(f) = &self.form {
            // Read back through the bounds a provider's submission meets.
            let mut response = f.response.clone();
            response.insert("flow_token".into(), Value::String(f.token.clone()));
            let (token, response) = form::parse_form_response(&Value::Object(response).to_string())
                .map_err(|e| InjectError::Invalid(format!("form: {e}")))?;
            InboundContent::FormReply { token, response }
        } else if let Some(values) = &self.address {
            let text = serde_json::json!({ "values": values }).to_string();
            let (values, saved_address_id) = form::parse_address_response(&text)
                .map_err(|e| InjectError::Invalid(format!("address: {e}")))?;
            InboundContent::AddressReply {
                values,
                saved_address_id,
            }
        } else {
            return invalid("nothing to send");
        })
    }
}

/// Puts a customer's attached file (base64) into the media store, bounded like a
/// provider's file of that kind; returns its SHA-256 (hex), which the message declares.
async fn store_attachment(
    sandbox: &Sandbox,
    kind: MediaKind,
    data: &str,
) -> Result<String, InjectError> {
    use base64::Engine;
    let limit = crate::domain::limits::media_bytes_max(kind);
    // Base64 is 4 characters per 3 bytes: refuse before decoding anything too large.
    if data.len() as u64 > limit.div_ceil(3) * 4 + 4 {
        return Err(InjectError::Invalid(format!(
            "media.data: a {} may be at most {limit} bytes",
            kind.as_str()
        )));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| InjectError::Invalid(format!("media.data is not base64: {e}")))?;
    if bytes.is_empty() {
        return Err(InjectError::Invalid("media.data is empty".into()));
    }
    let stored = sandbox
        .media_files
        .put(&bytes, limit, None)
        .await
        .map_err(|e| match e {
            crate::store::files::FileError::TooLarge { limit } => InjectError::Invalid(format!(
                "media.data: a {} may be at most {limit} bytes",
                kind.as_str()
            )),
            other => InjectError::Store(other.to_string()),
        })?;
    Ok(stored.sha256)
}

/// Stores `msg` as if the provider had delivered it to a sandbox sender.
pub async fn inject(
    sandbox: &Sandbox,
    ingestor: &Ingestor,
    store: &crate::store::DynStore,
    clock: &dyn Clock,
    msg: &CustomerMessage,
) -> Result<Injected, InjectError> {
    let sender_id = match msg.sender_id {
        Some(id) if sandbox.is_sandbox_sender(id) => id,
        Some(id) => {
            return Err(InjectError::Invalid(format!(
                "sender {id} is not a sandbox sender (channel: sandbox)"
            )))
        }
        None => *sandbox.sender_ids.first().ok_or_else(|| {
            InjectError::Invalid("no sender has channel: sandbox in the config".into())
        })?,
    };
    let phone =
        PhoneNumber::parse(&msg.from).map_err(|e| InjectError::Invalid(format!("from: {e}")))?;
    let mut content = msg.content()?;
    if let (Some(data), InboundContent::Media { media, sha256, .. }) = (
        msg.media.as_ref().and_then(|m| m.data.as_deref()),
        &mut content,
    ) {
        *sha256 = Some(store_attachment(sandbox, *media, data).await?);
    }
    let now = clock.now();
    let provider_message_id = msg
        .id
        .clone()
        .unwrap_or_else(|| format!("sandbox.in.{}", uuid::Uuid::new_v4().simple()));
    let message = InboundMessage {
        provider_message_id: provider_message_id.clone(),
        from: sandbox.customer(phone.clone()),
        // A name of nothing is no name: it does not clear the one the contact has.
        profile_name: msg
            .name
            .clone()
            .filter(|n| !crate::domain::limits::is_blank(n)),
        username: None,
        timestamp: Some(now),
        content,
        context: None,
        referral: msg.referral.as_ref().map(|id| Referral {
            source_url: None,
            source_id: Some(id.clone()),
            source_type: Some("ad".into()),
            headline: None,
            body: None,
            ctwa_clid: None,
        }),
    };
    if message.referral.is_some() {
        sandbox.channel.note_referral(&message.from, now);
    }
    let outcomes = ingestor
        .ingest(vec![IngestItem::Message {
            sender_id,
            message,
            received_at: now,
        }])
        .await
        .map_err(|e| InjectError::Store(e.to_string()))?;
    let (event_id, conversation_id, duplicate) = match outcomes.first() {
        Some(IngestOutcome::Stored {
            event_id,
            conversation_id,
        }) => (Some(*event_id), Some(*conversation_id), false),
        _ => {
            let conversation = store
                .find_conversation(sender_id, &sandbox.customer(phone.clone()).key())
                .await
                .map_err(|e| InjectError::Store(e.to_string()))?;
            (None, conversation.map(|c| c.id), true)
        }
    };
    Ok(Injected {
        sender_id,
        provider_message_id,
        event_id,
        conversation_id,
        duplicate,
    })
}
