//! Serde shapes of the JSON Meta sends us: webhook notifications and Graph API answers.
//!
//! These mirror Meta's documents field for field and carry no logic; `webhook.rs` and
//! `client.rs` turn them into domain types. Meta adds fields over time, so nothing here denies
//! unknown fields, and every field Meta documents as optional is an `Option` or defaults.

use serde::{Deserialize, Deserializer};

// The envelope (`object`, `entry[]`, `changes[]`, `value.metadata`) is walked as JSON in
// `webhook.rs`, so that each change, message and status is read on its own; the common
// shape is first tried in one pass (`webhook::fast`), which falls back to that walk.

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
    #[serde(default)]
    pub order: Option<Order>,
    /// Shared contact cards (`type: contacts`); read leniently card by card.
    #[serde(default)]
    pub contacts: Option<serde_json::Value>,
    /// The customer an echo (`smb_message_echoes`) went to.
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub to_user_id: Option<String>,
    /// Set on messages of a `history` backfill.
    #[serde(default)]
    pub history_context: Option<HistoryContext>,
    #[serde(default)]
    pub system: Option<System>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Order {
    #[serde(default)]
    pub catalog_id: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub product_items: Vec<ProductItem>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ProductItem {
    pub product_retailer_id: String,
    #[serde(deserialize_with = "number_or_string")]
    pub quantity: f64,
    #[serde(deserialize_with = "number_or_string")]
    pub item_price: f64,
    pub currency: String,
}

/// One shared contact card (`contacts[]` of a `contacts` message).
#[derive(Debug, Deserialize)]
pub(super) struct SharedContact {
    #[serde(default)]
    pub name: Option<ContactName>,
    #[serde(default)]
    pub phones: Vec<ContactPhone>,
    #[serde(default)]
    pub emails: Vec<ContactEmail>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ContactName {
    #[serde(default)]
    pub formatted_name: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ContactPhone {
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub wa_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ContactEmail {
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct HistoryContext {
    #[serde(default)]
    pub status: Option<String>,
}

/// One chunk of a `history` change: threads of messages, or an error when the business
/// declined to share its history.
#[derive(Debug, Deserialize)]
pub(super) struct HistoryChunk {
    #[serde(default)]
    pub threads: Vec<HistoryThread>,
}

#[derive(Debug, Deserialize)]
pub(super) struct HistoryThread {
    /// The customer's WhatsApp id.
    pub id: String,
    #[serde(default)]
    pub messages: Vec<serde_json::Value>,
}

/// One event of the `calls` field.
#[derive(Debug, Deserialize)]
pub(super) struct Call {
    pub id: String,
    pub event: String,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    /// The caller's or callee's business-scoped user id (a user without a shared number
    /// calls with no `from`).
    #[serde(default)]
    pub from_user_id: Option<String>,
    #[serde(default)]
    pub to_user_id: Option<String>,
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub timestamp: Option<Timestamp>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub start_time: Option<Timestamp>,
    #[serde(default)]
    pub end_time: Option<Timestamp>,
    #[serde(default)]
    pub duration: Option<Timestamp>,
}

/// `type: "system"`: a customer changed their number (`user_changed_number`, before 2023
/// `customer_changed_number`) or their business-scoped user id (`user_changed_user_id`).
#[derive(Debug, Deserialize)]
pub(super) struct System {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The new number (`new_wa_id` in Meta's older examples).
    #[serde(default, alias = "new_wa_id")]
    pub wa_id: Option<String>,
    /// The new business-scoped user id.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The business-scoped user id before the change (Meta's changelog of 2026-08-11: on
    /// both system message types; `user_changed_user_id` has no `from` to name the customer
    /// otherwise).
    #[serde(default)]
    pub previous_user_id: Option<String>,
}

/// One entry of a `user_id_update` change: the user's BSUID changed.
#[derive(Debug, Deserialize)]
pub(super) struct UserIdUpdate {
    #[serde(default)]
    pub wa_id: Option<String>,
    pub user_id: UserIdPair,
    #[serde(default)]
    pub timestamp: Option<Timestamp>,
}

#[derive(Debug, Deserialize)]
pub(super) struct UserIdPair {
    pub previous: String,
    pub current: String,
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
        // "NaN" and "inf" parse as f64 but cannot be stored as JSON numbers.
        Raw::Text(s) => s
            .trim()
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite())
            .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not a finite number"))),
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
    #[serde(default)]
    pub nfm_reply: Option<NfmReply>,
}

/// A submitted WhatsApp Flow (`name: flow`) or address form (`name: address_message`).
/// `response_json` is a JSON *text*; `body` is WhatsApp's "Sent".
#[derive(Debug, Deserialize)]
pub(super) struct NfmReply {
    #[serde(default)]
    pub name: Option<String>,
    pub response_json: String,
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
    #[serde(default)]
    pub pricing: Option<Pricing>,
}

/// A status's `pricing`: `{billable, pricing_model, category, type}`.
#[derive(Debug, Deserialize)]
pub(super) struct Pricing {
    #[serde(default)]
    pub billable: Option<bool>,
    #[serde(default)]
    pub pricing_model: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
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
