//! The sandbox channel: records what it would send and never touches the network.
//!
//! Every sandbox sender shares one `SandboxChannel` (clones share state), so tests and the
//! admin API can read back what flows "sent". It keeps only the most recent sends, in memory,
//! and forgets them on restart. It does not enforce the customer-service window nor produce
//! delivery statuses; a send always succeeds.

use crate::channels::{Channel, ProviderHealth, SendOk};
use crate::domain::{Clock, OutboundMessage, SendFailure, SystemClock};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

/// How many sends the sandbox remembers; older ones are dropped first.
pub const SANDBOX_HISTORY_LIMIT: usize = 10_000;

/// One message the sandbox accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxSend {
    /// `sandbox.<uuid>`: unique across restarts, so it never collides with ids already stored.
    pub provider_message_id: String,
    pub message: OutboundMessage,
    pub sent_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct SandboxChannel {
    clock: Arc<dyn Clock>,
    sent: Arc<Mutex<VecDeque<SandboxSend>>>,
}

impl SandboxChannel {
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A sandbox that stamps sends with `clock`, for tests on a manual clock.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            sent: Arc::new(Mutex::new(VecDeque::new())),
        }
    }

    /// Everything still remembered, oldest first.
    pub fn sent(&self) -> Vec<SandboxSend> {
        self.history().iter().cloned().collect()
    }

    pub fn clear(&self) {
        self.history().clear();
    }

    /// The history survives a panic elsewhere while locked: it is only ever pushed to whole.
    fn history(&self) -> std::sync::MutexGuard<'_, VecDeque<SandboxSend>> {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for SandboxChannel {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Channel for SandboxChannel {
    async fn send(&self, message: &OutboundMessage) -> Result<SendOk, SendFailure> {
        let record = SandboxSend {
            provider_message_id: format!("sandbox.{}", uuid::Uuid::new_v4().simple()),
            message: message.clone(),
            sent_at: self.clock.now(),
        };
        let provider_message_id = record.provider_message_id.clone();
        {
            let mut history = self.history();
            if history.len() >= SANDBOX_HISTORY_LIMIT {
                history.pop_front();
            }
            history.push_back(record);
        }
        Ok(SendOk {
            provider_message_id,
        })
    }

    async fn check_health(&self) -> ProviderHealth {
        ProviderHealth {
            reachable: true,
            credentials_valid: true,
            detail: "sandbox channel: messages are recorded, never sent".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ContactRef, ManualClock, OutboundContent, PhoneNumber};
    use std::collections::HashSet;

    fn text(body: &str) -> OutboundMessage {
        OutboundMessage {
            to: ContactRef::Phone(PhoneNumber::parse("+16315551181").unwrap()),
            content: OutboundContent::Text {
                body: body.into(),
                preview_url: false,
            },
        }
    }

    #[tokio::test]
    async fn send_records_the_message_with_its_id_and_time() {
        let at = DateTime::parse_from_rfc3339("2026-01-01T00:00:12Z")
            .unwrap()
            .with_timezone(&Utc);
        let sandbox = SandboxChannel::with_clock(Arc::new(ManualClock::new(at)));
        let ok = sandbox.send(&text("Hello")).await.unwrap();
        assert!(ok.provider_message_id.starts_with("sandbox."));
        assert_eq!(
            sandbox.sent(),
            vec![SandboxSend {
                provider_message_id: ok.provider_message_id,
                message: text("Hello"),
                sent_at: at,
            }]
        );
    }

    #[tokio::test]
    async fn clones_share_one_history_with_distinct_ids() {
        let sandbox = SandboxChannel::new();
        let other = sandbox.clone();
        let a = sandbox.send(&text("one")).await.unwrap();
        let b = other.send(&text("two")).await.unwrap();
        assert_ne!(a.provider_message_id, b.provider_message_id);
        let bodies: Vec<_> = sandbox.sent().into_iter().map(|s| s.message).collect();
        assert_eq!(bodies, vec![text("one"), text("two")]);
        other.clear();
        assert!(sandbox.sent().is_empty());
    }

    #[tokio::test]
    async fn history_keeps_only_the_most_recent_sends() {
        let sandbox = SandboxChannel::new();
        for i in 0..SANDBOX_HISTORY_LIMIT + 5 {
            sandbox.send(&text(&i.to_string())).await.unwrap();
        }
        let sent = sandbox.sent();
        assert_eq!(sent.len(), SANDBOX_HISTORY_LIMIT);
        assert_eq!(sent[0].message, text("5"));
        let ids: HashSet<_> = sent.iter().map(|s| &s.provider_message_id).collect();
        assert_eq!(ids.len(), SANDBOX_HISTORY_LIMIT);
    }

    #[tokio::test]
    async fn health_is_always_good_and_says_nothing_is_sent() {
        let health = SandboxChannel::new().check_health().await;
        assert!(health.reachable && health.credentials_valid);
        assert_eq!(
            health.detail,
            "sandbox channel: messages are recorded, never sent"
        );
    }
}
