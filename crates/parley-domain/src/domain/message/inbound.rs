//! What customers send us: a message with its content (text, media, replies, orders,
//! calls…), what it answers and the ad it came from.

use super::*;

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
    /// A copy of a message in a thread another app owns on a shared number (conversation
    /// routing's `standby` field): the customer's own message (`from_customer`), or what the
    /// owning app sent them. Context only: never starts a flow, never answered; the
    /// customer's counts for the window, the app's joins the history as sent by another app.
    Standby {
        from_customer: bool,
        content: Box<InboundContent>,
    },
    /// The thread's ownership moved (`messaging_handovers`): stored, and the engine records
    /// the new owner; never starts a flow.
    Handover(crate::domain::ThreadHandover),
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
            InboundContent::Standby { .. } => "standby",
            InboundContent::Handover(_) => "handover",
            InboundContent::Call(_) => "call",
            InboundContent::FormReply { .. } => "form_reply",
            InboundContent::AddressReply { .. } => "address",
        }
    }

    /// What an echo (a message a person sent from the WhatsApp Business app) is as a
    /// message of the business, for the conversation's outbound record; `None` for
    /// anything but an echo (or a standby copy of what another app sent). Kinds an outbound message cannot hold are recorded as a short
    /// text naming them (the event keeps all of it).
    pub fn echoed(&self) -> Option<OutboundContent> {
        let (content, by) = match self {
            InboundContent::Echo { content } => (content, "the WhatsApp Business app"),
            InboundContent::Standby {
                from_customer: false,
                content,
            } => (content, "another app on the number"),
            _ => return None,
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
                body: format!("({} sent from {by})", other.kind_name()),
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
            InboundContent::Echo { .. }
            | InboundContent::History { .. }
            | InboundContent::Handover(_) => false,
            InboundContent::Standby { from_customer, .. } => *from_customer,
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
                | InboundContent::Standby { .. }
                | InboundContent::Handover(_)
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
            // Shown with the conversation's history; a standby copy never reaches triggers.
            InboundContent::Standby { content, .. } => content.text(),
            _ => None,
        }
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
