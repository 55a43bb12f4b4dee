//! Canonical inbound events, delivery statuses and outbound messages. Provider wire formats
//! are translated into these at the channel edge and never leak further in.
//!
//! Here: what one webhook item is and where it is routed, and the kinds of media both
//! directions share; what customers send in `inbound`, what we send in `outbound`, and
//! what becomes of it in `status`.

use super::phone::ContactRef;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod inbound;
mod outbound;
mod status;

pub use inbound::*;
pub use outbound::*;
pub use status::*;

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
