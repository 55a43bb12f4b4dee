//! What becomes of a message we sent: the provider's delivery statuses, their order, and
//! the tag that ties a status back to its outbox row.

use super::*;

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
    pub pricing: Option<crate::domain::pricing::StatusPricing>,
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
}
