//! Provider channels: Meta Cloud API, Twilio and the sandbox. Each owns its wire format
//! (webhook verification and parsing, send requests and error bodies) and shows the rest of
//! Parley only domain types: `Routed` events in, `OutboundMessage` out, `SendFailure` back,
//! and an inbound media file's bytes (`fetch_media`).
//! `senders` builds, from the config, the channel client and pacing limiter of every sender.

pub mod dropped;
pub mod meta;
pub mod pacer;
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

    /// Moves the customer's thread under Meta's conversation routing (`pass`, `release`,
    /// `take`). Channels without routing refuse, for good.
    async fn thread_control(
        &self,
        to: &ContactRef,
        action: &crate::domain::ThreadAction,
        metadata: Option<&str>,
    ) -> Result<(), SendFailure> {
        let _ = (to, metadata);
        Err(SendFailure {
            class: crate::domain::ErrorClass::Permanent,
            ..SendFailure::new(
                None,
                None,
                format!(
                    "`{}`: this sender's channel has no conversation routing (Meta only)",
                    action.name()
                ),
            )
        })
    }

    /// The number's routing roles under Meta's conversation routing; `None` for channels
    /// without routing.
    async fn routing_roles(&self) -> Option<Result<crate::domain::RoutingRoles, String>> {
        None
    }

    /// Starts the download of an inbound media file: one request to learn where it is
    /// (Meta) and one for its bytes, whose body the caller reads in chunks. `http` is the
    /// caller's client (its timeout bounds the whole download). Never retries by itself.
    async fn fetch_media(
        &self,
        http: &reqwest::Client,
        source: MediaSource<'_>,
    ) -> Result<MediaBody, FetchError> {
        let _ = (http, source);
        Err(FetchError::Permanent(
            "this sender's channel has no media to download".into(),
        ))
    }
}

/// Where the provider keeps an inbound media file, as its webhook said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaSource<'a> {
    /// Meta's media id.
    pub media_id: Option<&'a str>,
    /// Twilio's `MediaUrl0`.
    pub url: Option<&'a str>,
}

/// An inbound media file the provider is sending; its body is still to be read.
#[derive(Debug)]
pub struct MediaBody {
    pub response: reqwest::Response,
    /// What the provider says the file is (`image/jpeg`).
    pub mime_type: Option<String>,
    /// The SHA-256 the provider declares (hex or base64), to check the bytes against.
    pub sha256: Option<String>,
    /// The size the provider declares, in bytes.
    pub size: Option<u64>,
}

/// Why a media download could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Worth another try later: no answer, 429, a 5xx, refused credentials (which an
    /// operator may fix).
    #[error("{0}")]
    Transient(String),
    /// Will not get better: the media id is unknown or expired, the answer is not usable.
    #[error("{0}")]
    Permanent(String),
    /// Worth another try later: the client's timeout (`media.download_timeout`) ended the
    /// request before an answer came.
    #[error("{0}")]
    TimedOut(String),
}

impl FetchError {
    /// A request that got no answer: timed out, or transient.
    pub fn no_answer(error: &reqwest::Error, text: String) -> Self {
        if error.is_timeout() {
            FetchError::TimedOut(text)
        } else {
            FetchError::Transient(text)
        }
    }

    /// Classifies a provider's HTTP status on a media request.
    pub fn from_status(status: reqwest::StatusCode, text: String) -> Self {
        if status.is_server_error() || matches!(status.as_u16(), 401 | 403 | 408 | 425 | 429) {
            FetchError::Transient(text)
        } else {
            FetchError::Permanent(text)
        }
    }
}
