//! Canonical inbound events, delivery statuses and outbound messages. Provider wire formats
//! are translated into these at the channel edge and never leak further in.

use super::phone::ContactRef;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One thing a webhook told us, with the key that routes it to a configured sender: Meta's
/// `metadata.phone_number_id`, or Twilio's business number (`To` on messages, `From` on
/// statuses) in E.164.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Routed {
    pub route: RouteKey,
    pub item: WebhookItem,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "by", content = "value", rename_all = "snake_case")]
pub enum RouteKey {
    MetaPhoneNumberId(String),
    TwilioNumber(String),
    /// Account-level notifications (templates) name the WhatsApp Business Account.
    MetaBusinessAccount(String),
}

// Items are built once per webhook and moved, never stored in bulk: boxing the message
// would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WebhookItem {
    Message(InboundMessage),
    Status(StatusUpdate),
    /// A template's status or category changed at Meta (account-level).
    Template(super::TemplateUpdate),
    /// A customer stopped or resumed marketing messages.
    MarketingPreference(super::MarketingPreference),
    /// A customer's number or business-scoped user id changed.
    IdentityChange(super::IdentityChange),
}

/// A message a customer sent us.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// `wamid.…` (Meta) or `SM…`/`MM…` (Twilio); the deduplication key.
    pub provider_message_id: String,
    pub from: ContactRef,
    /// The customer's WhatsApp profile name, when the provider sent one.
    pub profile_name: Option<String>,
    /// The customer's WhatsApp username (business-scoped-id era), when sent.
    pub username: Option<String>,
    /// The provider's timestamp. Twilio sends none: the receipt time is used instead.
    pub timestamp: Option<DateTime<Utc>>,
    pub content: InboundContent,
    /// The earlier message this one replies to (quoted replies, button taps).
    pub context: Option<ReplyContext>,
    /// Click-to-WhatsApp ad that started the conversation.
    pub referral: Option<Referral>,
}

impl InboundMessage {
    /// When this message (re)opens the customer-service window, if it does: the provider's
    /// timestamp, never later than Parley received it (a clock ahead, or a forged
    /// timestamp, must not open a window of weeks), the receipt time when there is none.
    pub fn opens_window_at(&self, received_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.content
            .opens_window()
            .then(|| self.timestamp.map_or(received_at, |t| t.min(received_at)))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboundContent {
    Text {
        body: String,
    },
    Media {
        media: MediaKind,
        /// Provider media id (Meta) to download with the access token.
        media_id: Option<String>,
        url: Option<String>,
        mime_type: Option<String>,
        sha256: Option<String>,
        caption: Option<String>,
        filename: Option<String>,
        /// A recorded voice note rather than an audio file.
        voice: bool,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
        url: Option<String>,
    },
    /// Tap on a reply button of an interactive message we sent.
    ButtonReply {
        id: String,
        title: String,
    },
    /// Row picked from an interactive list we sent.
    ListReply {
        id: String,
        title: String,
        description: Option<String>,
    },
    /// Tap on a quick-reply button of a template we sent.
    QuickReply {
        payload: String,
        text: String,
    },
    Reaction {
        /// The message reacted to.
        message_id: String,
        /// `None` when the customer removed their reaction.
        emoji: Option<String>,
    },
    /// A message type the provider cannot deliver to the API (polls, some stickers…).
    Unsupported {
        original_type: Option<String>,
        errors: Vec<ProviderError>,
    },
    /// A cart sent from the business's catalog.
    Order {
        catalog_id: Option<String>,
        /// The note the customer wrote with the order.
        text: Option<String>,
        items: Vec<OrderItem>,
    },
    /// Contact cards the customer shared (at most `limits::SHARED_CONTACTS_MAX`).
    Contacts {
        contacts: Vec<SharedContact>,
    },
    /// The customer opened the chat for the first time (Meta's `request_welcome`): a
    /// `welcome` trigger answers it, never the `fallback`.
    RequestWelcome,
    /// What a person sent from the WhatsApp Business app on the shared number
    /// (coexistence, `smb_message_echoes`); `from` is the customer it went to. Never opens
    /// or extends the window; pauses the bot for that customer.
    Echo {
        content: Box<InboundContent>,
    },
    /// A message of the chat history shared when the number was onboarded (`history`).
    /// Stored only: never starts a flow, never opens a window.
    History {
        /// `true` when the customer sent it, `false` when the business did.
        from_customer: bool,
        content: Box<InboundContent>,
        /// Meta's `history_context.status` (`read`, `delivered`, `played`…).
        status: Option<String>,
    },
    /// A WhatsApp voice call (`calls` webhook): one event when it connects, one when it
    /// ends. A call the customer made opens or resets the window like a message.
    Call(CallEvent),
    /// A WhatsApp Flow (form) submitted (Meta's `interactive.nfm_reply`, `name: flow`).
    FormReply {
        /// The `flow_token` the form was sent with; Parley's own start with
        /// `form::TOKEN_PREFIX`.
        token: Option<String>,
        /// The submitted fields (`response_json` without the token), bounded.
        response: serde_json::Map<String, serde_json::Value>,
    },
    /// An address submitted through WhatsApp's address form (`nfm_reply`,
    /// `name: address_message`; India).
    AddressReply {
        /// `name`, `phone_number`, `in_pin_code`, `house_number`, `city`, `state`…
        values: BTreeMap<String, String>,
        /// Set when the customer picked one of the saved addresses the business offered.
        saved_address_id: Option<String>,
    },
}

/// One line of an `order`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    pub product_retailer_id: String,
    pub quantity: f64,
    pub item_price: f64,
    pub currency: String,
}

/// One shared contact card, trimmed to what a flow can use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedContact {
    pub name: Option<String>,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    /// The WhatsApp id of a phone, when the shared person uses WhatsApp.
    pub wa_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    UserInitiated,
    BusinessInitiated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallPhase {
    Connect,
    Terminate,
}

impl CallPhase {
    pub fn as_str(&self) -> &'static str {
        match self {
            CallPhase::Connect => "connect",
            CallPhase::Terminate => "terminate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEvent {
    pub call_id: String,
    pub event: CallPhase,
    pub direction: CallDirection,
    /// On `terminate`: `completed`, `failed`…, lowercased.
    pub status: Option<String>,
    pub duration_seconds: Option<i64>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
}

impl InboundContent {
    /// A short lowercase name: `text`, `image`, `location`, `button_reply`…
    pub fn kind_name(&self) -> &'static str {
        match self {
            InboundContent::Text { .. } => "text",
            InboundContent::Media { media, .. } => media.as_str(),
            InboundContent::Location { .. } => "location",
            InboundContent::ButtonReply { .. } => "button_reply",
            InboundContent::ListReply { .. } => "list_reply",
            InboundContent::QuickReply { .. } => "quick_reply",
            InboundContent::Reaction { .. } => "reaction",
            InboundContent::Unsupported { .. } => "unsupported",
            InboundContent::Order { .. } => "order",
            InboundContent::Contacts { .. } => "contacts",
            InboundContent::RequestWelcome => "request_welcome",
            InboundContent::Echo { .. } => "echo",
            InboundContent::History { .. } => "history",
            InboundContent::Call(_) => "call",
            InboundContent::FormReply { .. } => "form_reply",
            InboundContent::AddressReply { .. } => "address",
        }
    }

    /// What an echo (a message a person sent from the WhatsApp Business app) is as a
    /// message of the business, for the conversation's outbound record; `None` for
    /// anything but an echo. Kinds an outbound message cannot hold are recorded as a short
    /// text naming them (the event keeps all of it).
    pub fn echoed(&self) -> Option<OutboundContent> {
        let InboundContent::Echo { content } = self else {
            return None;
        };
        Some(match &**content {
            InboundContent::Text { body } => OutboundContent::Text {
                body: body.clone(),
                preview_url: false,
            },
            InboundContent::Media {
                media,
                media_id,
                url,
                caption,
                filename,
                ..
            } => OutboundContent::Media {
                media: *media,
                link: url.clone().or_else(|| media_id.clone()).unwrap_or_default(),
                caption: caption.clone(),
                filename: filename.clone(),
            },
            InboundContent::Location {
                latitude,
                longitude,
                name,
                address,
                ..
            } => OutboundContent::Location {
                latitude: *latitude,
                longitude: *longitude,
                name: name.clone(),
                address: address.clone(),
            },
            other => OutboundContent::Text {
                body: format!(
                    "({} sent from the WhatsApp Business app)",
                    other.kind_name()
                ),
                preview_url: false,
            },
        })
    }

    /// The names a `type` trigger matches this by: its kind, and for a call also the event
    /// (`call:connect`, `call:terminate`).
    pub fn type_names(&self) -> [Option<&'static str>; 2] {
        let event = match self {
            InboundContent::Call(call) => Some(match call.event {
                CallPhase::Connect => "call:connect",
                CallPhase::Terminate => "call:terminate",
            }),
            _ => None,
        };
        [Some(self.kind_name()), event]
    }

    /// Whether this moves the customer-service window (Meta's rule): anything the customer
    /// sends or a call they make does; what the business sent from its app (echoes),
    /// history backfill and calls the business made do not.
    pub fn opens_window(&self) -> bool {
        match self {
            InboundContent::Echo { .. } | InboundContent::History { .. } => false,
            InboundContent::Call(call) => call.direction == CallDirection::UserInitiated,
            _ => true,
        }
    }

    /// Whether this is something the customer said to the bot: it may start a `fallback`
    /// or `new_contact` flow and answer an `ask`. Reactions (added or removed), a chat
    /// opened for the first time, calls, echoes and history are events, not answers: only
    /// triggers naming them start a flow.
    pub fn is_conversational(&self) -> bool {
        !matches!(
            self,
            InboundContent::Reaction { .. }
                | InboundContent::RequestWelcome
                | InboundContent::Echo { .. }
                | InboundContent::History { .. }
                | InboundContent::Call(_)
        )
    }

    /// The text a flow matches keywords against: the body, a caption, or a button's title.
    pub fn text(&self) -> Option<&str> {
        match self {
            InboundContent::Text { body } => Some(body),
            InboundContent::Media { caption, .. } => caption.as_deref(),
            InboundContent::ButtonReply { title, .. } => Some(title),
            InboundContent::ListReply { title, .. } => Some(title),
            InboundContent::QuickReply { text, .. } => Some(text),
            InboundContent::Order { text, .. } => text.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Document,
    Sticker,
}

impl MediaKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "image" => MediaKind::Image,
            "video" => MediaKind::Video,
            "audio" => MediaKind::Audio,
            "document" => MediaKind::Document,
            "sticker" => MediaKind::Sticker,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyContext {
    /// Provider id of the message replied to.
    pub message_id: String,
    /// Who sent that message (usually our own business number).
    pub from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    pub source_url: Option<String>,
    pub source_id: Option<String>,
    pub source_type: Option<String>,
    pub headline: Option<String>,
    pub body: Option<String>,
    pub ctwa_clid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderError {
    pub code: i64,
    pub title: String,
    pub details: Option<String>,
}

/// The tag a send carries to its provider (Meta's `biz_opaque_callback_data`).
pub fn outbox_reference(outbox_id: i64) -> String {
    format!("parley-outbox:{outbox_id}")
}

/// The outbox id in a tag written by `outbox_reference`; `None` for anyone else's tag.
pub fn outbox_reference_id(reference: &str) -> Option<i64> {
    reference.strip_prefix("parley-outbox:")?.parse().ok()
}

/// A delivery status for a message we sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub provider_message_id: String,
    pub status: DeliveryStatus,
    pub timestamp: Option<DateTime<Utc>>,
    /// The customer the message went to, as the provider names them.
    pub recipient: Option<String>,
    /// Set on `failed`.
    pub error: Option<ProviderError>,
    /// The outbox id Parley tagged the send with (Meta echoes `biz_opaque_callback_data`),
    /// so a status can be matched to a send whose answer never reached Parley.
    pub outbox_id: Option<i64>,
    /// Meta's `pricing` object (on `sent`, and on one of `delivered`/`read`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<super::pricing::StatusPricing>,
}

/// Where an outbound message is in its life. Ranks only go up, except that `failed` can
/// follow anything before `delivered`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting in Parley's outbox.
    Queued,
    /// Accepted by the provider (HTTP 200 + id), no webhook yet.
    Accepted,
    Sent,
    Delivered,
    Read,
    Failed,
    /// Not sent on purpose: the window was closed and the fallback said skip.
    Skipped,
}

impl DeliveryStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Accepted => "accepted",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => DeliveryStatus::Queued,
            "accepted" => DeliveryStatus::Accepted,
            "sent" => DeliveryStatus::Sent,
            "delivered" => DeliveryStatus::Delivered,
            "read" => DeliveryStatus::Read,
            "failed" | "undelivered" => DeliveryStatus::Failed,
            "skipped" => DeliveryStatus::Skipped,
            _ => return None,
        })
    }

    fn rank(&self) -> u8 {
        match self {
            DeliveryStatus::Queued => 0,
            DeliveryStatus::Accepted => 1,
            DeliveryStatus::Sent => 2,
            DeliveryStatus::Delivered => 3,
            DeliveryStatus::Read => 4,
            DeliveryStatus::Failed | DeliveryStatus::Skipped => 5,
        }
    }

    /// Whether a status webhook saying `next` should replace `self`. Tolerates repeats and
    /// out-of-order delivery: `sent` after `read` changes nothing; `failed` after `delivered`
    /// is ignored because the customer already has the message.
    pub fn should_advance_to(&self, next: DeliveryStatus) -> bool {
        match (self, next) {
            (DeliveryStatus::Failed | DeliveryStatus::Skipped, _) => false,
            (DeliveryStatus::Delivered | DeliveryStatus::Read, DeliveryStatus::Failed) => false,
            (_, DeliveryStatus::Failed) => true,
            (current, next) => next.rank() > current.rank(),
        }
    }
}

/// A message to send to a customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    pub to: ContactRef,
    pub content: OutboundContent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboundContent {
    Text {
        body: String,
        #[serde(default)]
        preview_url: bool,
    },
    Media {
        media: MediaKind,
        link: String,
        caption: Option<String>,
        filename: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    /// Up to 3 reply buttons under a body text.
    Buttons {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        buttons: Vec<ReplyButton>,
    },
    /// A list opened by a button, with sections of rows.
    List {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        button: String,
        sections: Vec<ListSection>,
    },
    /// One call-to-action button that opens a URL.
    UrlButton {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        display_text: String,
        url: String,
    },
    Template(TemplateMessage),
    /// An emoji reaction to one of the customer's messages; an empty emoji removes ours.
    Reaction {
        /// The provider id of the message reacted to (`wamid.…`).
        message_id: String,
        emoji: String,
    },
    /// A text with a "Send location" button (Meta's `location_request_message`).
    LocationRequest {
        body: String,
    },
    /// A message whose button opens a WhatsApp Flow (a form).
    Form(Box<super::form::FormMessage>),
    /// WhatsApp's address form (`interactive.type: address_message`; India), answered by
    /// an `AddressReply`.
    AddressRequest {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        /// `IN` (or `SG` where Meta offers it).
        country: String,
    },
}

impl OutboundContent {
    /// Free-form messages need an open window; templates do not.
    pub fn is_freeform(&self) -> bool {
        !matches!(self, OutboundContent::Template(_))
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            OutboundContent::Text { .. } => "text",
            OutboundContent::Media { media, .. } => media.as_str(),
            OutboundContent::Location { .. } => "location",
            OutboundContent::Buttons { .. } => "buttons",
            OutboundContent::List { .. } => "list",
            OutboundContent::UrlButton { .. } => "url_button",
            OutboundContent::Template(_) => "template",
            OutboundContent::Reaction { .. } => "reaction",
            OutboundContent::LocationRequest { .. } => "location_request",
            OutboundContent::Form(_) => "form",
            OutboundContent::AddressRequest { .. } => "address_request",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyButton {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSection {
    pub title: Option<String>,
    pub rows: Vec<ListRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRow {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
}

/// An approved template with its placeholder values filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateMessage {
    pub name: String,
    pub language: String,
    /// Body placeholder values by name (`"1"`, `"2"`, …), sent in numeric order.
    pub variables: BTreeMap<String, String>,
    /// Payloads for the template's quick-reply buttons, by button index.
    #[serde(default)]
    pub quick_reply_payloads: Vec<String>,
    /// Twilio Content API SID (`HX…`) when the template is sent through Twilio.
    #[serde(default)]
    pub content_sid: Option<String>,
}

impl TemplateMessage {
    /// The name of the first variable whose value is empty or only spaces: Meta and Twilio
    /// refuse such a parameter, so the message must not be sent as it is.
    pub fn empty_variable(&self) -> Option<&str> {
        self.variables
            .iter()
            .find(|(_, v)| v.trim().is_empty())
            .map(|(k, _)| k.as_str())
    }

    /// Placeholder values in numeric order of their names (`"2"` before `"10"`).
    pub fn ordered_values(&self) -> Vec<&str> {
        let mut entries: Vec<(&String, &String)> = self.variables.iter().collect();
        entries.sort_by_key(|(k, _)| (k.parse::<u64>().unwrap_or(u64::MAX), k.to_string()));
        entries.into_iter().map(|(_, v)| v.as_str()).collect()
    }
}

/// What to do with a free-form message when the window is closed at the moment of sending.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum WindowFallback {
    /// Mark the message failed with a closed-window reason (the default).
    #[default]
    Fail,
    /// Drop the message silently (recorded as `skipped`).
    Skip,
    /// Send this template instead.
    Template(TemplateMessage),
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryStatus::*;

    #[test]
    fn statuses_only_move_forward() {
        assert!(Accepted.should_advance_to(Sent));
        assert!(Sent.should_advance_to(Read));
        assert!(!Read.should_advance_to(Delivered));
        assert!(!Read.should_advance_to(Sent));
        assert!(!Delivered.should_advance_to(Delivered));
        assert!(Sent.should_advance_to(Failed));
        assert!(!Delivered.should_advance_to(Failed));
        assert!(!Failed.should_advance_to(Read));
    }

    #[test]
    fn template_values_are_ordered_numerically() {
        let t = TemplateMessage {
            name: "t".into(),
            language: "en".into(),
            variables: [("10", "ten"), ("2", "two"), ("1", "one")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            quick_reply_payloads: vec![],
            content_sid: None,
        };
        assert_eq!(t.ordered_values(), vec!["one", "two", "ten"]);
    }
}
