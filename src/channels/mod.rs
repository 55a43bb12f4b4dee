//! Provider channels: Meta Cloud API, Twilio and the sandbox. Each owns its wire format
//! (webhook verification and parsing, send requests and error bodies) and shows the rest of
//! Parley only domain types: `Routed` events in, `OutboundMessage` out, `SendFailure` back.
//! `senders` builds, from the config, the channel client and pacing limiter of every sender.

pub mod dropped;
pub mod meta;
pub mod sandbox;
pub mod senders;
pub mod twilio;

use crate::domain::{ContactRef, OutboundMessage, SendFailure};
use async_trait::async_trait;
use serde::Serialize;

/// The provider accepted the message and gave it this id (`wamid.…`, `SM…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOk {
    pub provider_message_id: String,
}

/// What a health check found out about a sender's provider account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderHealth {
    /// The provider answered at all.
    pub reachable: bool,
    /// The provider accepted our credentials.
    pub credentials_valid: bool,
    /// A sentence a person can act on.
    pub detail: String,
}

#[async_trait]
pub trait Channel: Send + Sync + 'static {
    /// Send one message. Never retries by itself: the outbox decides, from the
    /// `SendFailure`'s class.
    async fn send(&self, message: &OutboundMessage) -> Result<SendOk, SendFailure>;

    /// `send`, tagged with the outbox id where the provider echoes a tag in its status
    /// webhooks (Meta), so an unknown outcome can be settled by a status instead of a resend.
    async fn send_tracked(
        &self,
        message: &OutboundMessage,
        outbox_id: Option<i64>,
    ) -> Result<SendOk, SendFailure> {
        let _ = outbox_id;
        self.send(message).await
    }

    /// Marks the customer's message `message_id` read and shows them "typing…" until the
    /// next reply or for `domain::limits::TYPING_INDICATOR_LIFETIME`, whichever is first.
    /// Best effort: the caller logs a failure and goes on; nothing is retried.
    async fn show_typing(&self, to: &ContactRef, message_id: &str) -> Result<(), SendFailure>;

    /// Check credentials and reachability without sending anything.
    async fn check_health(&self) -> ProviderHealth;
}
