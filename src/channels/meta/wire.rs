//! Serde shapes of the JSON Meta sends us: webhook notifications and Graph API answers.
//!
//! These mirror Meta's documents field for field and carry no logic; `webhook.rs` and
//! `client.rs` turn them into domain types. Meta adds fields over time, so nothing here denies
//! unknown fields, and every field Meta documents as optional is an `Option` or defaults.

use serde::{Deserialize, Deserializer};

// The envelope (`object`, `entry[]`, `changes[]`, `value.metadata`) is walked as JSON in
// `webhook.rs`, so that each change, message and status is read on its own.

#[derive(Debug, Deserialize)]
pub(super) struct Contact {
    #[serde(default)]
    pub profile: Option<Profile>,
    #[serde(default)]
    pub wa_id: Option<String>,
    /// Business-scoped user id (2026 onwards).
    #[serde(default)]
    pub user_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Profile {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Message {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Absent (or `""` in Meta's 2025 drafts) for users who hide their number.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub from_user_id: Option<String>,
    #[serde(default)]
    pub timestamp: Option<Timestamp>,
    #[serde(default)]
    pub context: Option<Context>,
    #[serde(default)]
    pub referral: Option<Referral>,
    #[serde(default)]
    pub errors: Vec<Error>,
    #[serde(default)]
    pub text: Option<Text>,
    #[serde(default)]
    pub image: Option<Media>,
    #[serde(default)]
    pub video: Option<Media>,
    #[serde(default)]
    pub audio: Option<Media>,
    #[serde(default)]
    pub document: Option<Media>,
    #[serde(default)]
    pub sticker: Option<Media>,
    #[serde(default)]
    pub location: Option<Location>,
    #[serde(default)]
    pub interactive: Option<Interactive>,
    #[serde(default)]
    pub button: Option<Button>,
    #[serde(default)]
    pub reaction: Option<Reaction>,
    #[serde(default)]
    pub unsupported: Option<Unsupported>,
}

/// Meta writes unix seconds as a string; a number is accepted too.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Timestamp {
    Text(String),
    Number(i64),
}

impl Timestamp {
    pub fn unix_seconds(&self) -> Option<i64> {
        match self {
            Timestamp::Text(s) => s.trim().parse().ok(),
            Timestamp::Number(n) => Some(*n),
        }
    }
}

/// Forwarded messages carry a `context` with only `forwarded: true`, hence the optional id.
#[derive(Debug, Deserialize)]
pub(super) struct Context {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Referral {
    #[serde(default)]
    pub source_url: Option<String>,
    #[serde(default)]
    pub source_id: Option<String>,
    #[serde(default)]
    pub source_type: Option<String>,
    #[serde(default)]
    pub headline: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub ctwa_clid: Option<String>,
}

/// An error object, in a message (`unsupported`), a status (`failed`) or a change.
#[derive(Debug, Deserialize)]
pub(super) struct Error {
    pub code: i64,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error_data: Option<ErrorData>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ErrorData {
    #[serde(default)]
    pub details: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Text {
    pub body: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Media {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub voice: bool,
}

#[derive(Debug, Deserialize)]
pub(super) struct Location {
    #[serde(deserialize_with = "number_or_string")]
    pub latitude: f64,
    #[serde(deserialize_with = "number_or_string")]
    pub longitude: f64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// Coordinates are numbers in webhooks but strings in Meta's own send examples; take both.
fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(f64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Number(n) => Ok(n),
        Raw::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a coordinate"))),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct Interactive {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub button_reply: Option<ButtonReply>,
    #[serde(default)]
    pub list_reply: Option<ListReply>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ButtonReply {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct ListReply {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// A tap on a template's quick-reply button (`type: "button"`).
#[derive(Debug, Deserialize)]
pub(super) struct Button {
    pub payload: String,
    pub text: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Reaction {
    pub message_id: String,
    #[serde(default)]
    pub emoji: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Unsupported {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Status {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub timestamp: Option<Timestamp>,
    #[serde(default)]
    pub recipient_id: Option<String>,
    /// Set instead of `recipient_id` for messages sent to a business-scoped user id.
    #[serde(default)]
    pub recipient_user_id: Option<String>,
    #[serde(default)]
    pub errors: Vec<Error>,
    /// What Parley put in the send's `biz_opaque_callback_data`, echoed back.
    #[serde(default)]
    pub biz_opaque_callback_data: Option<String>,
}

/// The body of a successful send.
#[derive(Debug, Deserialize)]
pub(super) struct SendResponse {
    #[serde(default)]
    pub messages: Vec<SentMessage>,
}

#[derive(Debug, Deserialize)]
pub(super) struct SentMessage {
    pub id: String,
}

/// Graph API error envelope: `{"error": {"message", "code", "error_data": {"details"}}}`.
#[derive(Debug, Deserialize)]
pub(super) struct GraphErrorEnvelope {
    pub error: GraphError,
}

#[derive(Debug, Deserialize)]
pub(super) struct GraphError {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error_data: Option<ErrorData>,
}

/// The answer to `GET /{phone_number_id}?fields=id,display_phone_number,verified_name`.
#[derive(Debug, Deserialize)]
pub(super) struct PhoneNumberInfo {
    #[serde(default)]
    pub display_phone_number: Option<String>,
    #[serde(default)]
    pub verified_name: Option<String>,
}

/// Meta's answer to `GET /{media-id}`: where the file is for the next 5 minutes, with
/// what Meta knows about it (`sha256` in hex here, in base64 in webhooks).
#[derive(Debug, Deserialize)]
pub(super) struct MediaUrl {
    pub url: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// A string in Meta's examples, a number in some SDKs' types.
    #[serde(default)]
    pub file_size: Option<FileSize>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum FileSize {
    Number(u64),
    Text(String),
}

impl FileSize {
    pub fn bytes(&self) -> Option<u64> {
        match self {
            FileSize::Number(n) => Some(*n),
            FileSize::Text(t) => t.trim().parse().ok(),
        }
    }
}
