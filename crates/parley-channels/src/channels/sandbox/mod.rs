//! The sandbox channel: a WhatsApp provider that lives in memory and behaves like Meta, so
//! flows can be tried without a WhatsApp number.
//!
//! It records every message it accepts (the most recent ones, forgotten on restart). Once
//! `attach`ed to the running app (`rules.rs`) it also refuses what Meta refuses — free-form
//! outside the window (131047), unknown, unapproved or paused templates (132001, 132015),
//! wrong template variables (132000), and, when configured, pair-rate (131056) and
//! throughput (130429) excess — and sends delivery statuses sent → delivered → read back
//! into Parley through the webhook ingest path (`statuses.rs`). Unattached, every send
//! succeeds and no status comes back.
//!
//! Every sandbox sender has its own handle (`for_sender`) on one shared state, so tests and
//! the sandbox API read back what flows "sent" from any of them.

mod parley;
mod rules;
mod statuses;

pub use parley::{LastInbound, StatusSink};
pub use rules::SandboxRules;

use crate::channels::{Channel, ProviderHealth, SendOk};
use crate::domain::{Clock, ContactRef, OutboundMessage, SendFailure, SystemClock};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// How many sends the sandbox remembers; older ones are dropped first.
pub const SANDBOX_HISTORY_LIMIT: usize = 10_000;

/// One message the sandbox accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxSend {
    /// `sandbox.<uuid>`: unique across restarts, so it never collides with ids already stored.
    pub provider_message_id: String,
    pub message: OutboundMessage,
    pub sent_at: DateTime<Utc>,
    /// The sandbox sender it left from (`None` for a handle not bound to a sender).
    pub sender_id: Option<i64>,
}

#[derive(Clone)]
pub struct SandboxChannel {
    sender_id: Option<i64>,
    shared: Arc<Shared>,
}

struct Shared {
    clock: RwLock<Arc<dyn Clock>>,
    sent: Mutex<VecDeque<SandboxSend>>,
    rules: RwLock<Option<Arc<SandboxRules>>>,
    pacing: Mutex<rules::Pacing>,
    /// When "typing…" was last shown to each customer (by contact key); a send to them
    /// ends it, as on WhatsApp.
    typing: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl SandboxChannel {
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A sandbox that stamps sends with `clock`, for tests on a manual clock.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            sender_id: None,
            shared: Arc::new(Shared {
                clock: RwLock::new(clock),
                sent: Mutex::new(VecDeque::new()),
                rules: RwLock::new(None),
                pacing: Mutex::new(rules::Pacing::default()),
                typing: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A handle for one sandbox sender, sharing this sandbox's state.
    pub fn for_sender(&self, sender_id: i64) -> Self {
        Self {
            sender_id: Some(sender_id),
            shared: self.shared.clone(),
        }
    }

    /// Makes the sandbox behave like Meta from now on, on the app's clock.
    pub fn attach(&self, clock: Arc<dyn Clock>, rules: SandboxRules) {
        *self
            .shared
            .clock
            .write()
            .unwrap_or_else(PoisonError::into_inner) = clock;
        *self
            .shared
            .rules
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(rules));
    }

    /// A customer's message came from a click-to-WhatsApp ad (Meta's free entry point).
    pub fn note_referral(&self, to: &ContactRef, at: DateTime<Utc>) {
        if let Some(rules) = self.rules() {
            rules.note_referral(&to.key(), at);
        }
    }

    /// Everything still remembered, oldest first.
    pub fn sent(&self) -> Vec<SandboxSend> {
        self.history().iter().cloned().collect()
    }

    pub fn clear(&self) {
        self.history().clear();
        self.typing_shown().clear();
    }

    /// Whether the customer sees "typing…" now: shown less than WhatsApp's 25 s ago, and
    /// no message sent to them since.
    pub fn is_typing(&self, to: &ContactRef) -> bool {
        let now = self.now();
        self.typing_shown().get(&to.key()).is_some_and(|at| {
            (now - *at)
                .to_std()
                .is_ok_and(|age| age < crate::domain::limits::TYPING_INDICATOR_LIFETIME)
        })
    }

    fn typing_shown(&self) -> std::sync::MutexGuard<'_, HashMap<String, DateTime<Utc>>> {
        self.shared
            .typing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> DateTime<Utc> {
        self.shared
            .clock
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .now()
    }

    fn rules(&self) -> Option<Arc<SandboxRules>> {
        self.shared
            .rules
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The history survives a panic elsewhere while locked: it is only ever pushed to whole.
    fn history(&self) -> std::sync::MutexGuard<'_, VecDeque<SandboxSend>> {
        self.shared
            .sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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
        let now = self.now();
        let rules = self.rules();
        let mut pricing = None;
        if let Some(rules) = &rules {
            rules.check(self.sender_id, message, now).await?;
            let mut pacing = self
                .shared
                .pacing
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            rules.pace(&mut pacing, &message.to.key(), now)?;
        }
        if let Some(rules) = &rules {
            // Decided as the send is taken, like Meta does (after the refusals above).
            pricing = Some(rules.pricing(self.sender_id, message, now).await?);
        }
        let record = SandboxSend {
            provider_message_id: format!("sandbox.{}", uuid::Uuid::new_v4().simple()),
            message: message.clone(),
            sent_at: now,
            sender_id: self.sender_id,
        };
        let provider_message_id = record.provider_message_id.clone();
        self.typing_shown().remove(&message.to.key());
        {
            let mut history = self.history();
            if history.len() >= SANDBOX_HISTORY_LIMIT {
                history.pop_front();
            }
            history.push_back(record);
        }
        if let (Some(rules), Some(sender_id)) = (rules, self.sender_id) {
            let held = rules.holds_marketing(message);
            statuses::spawn(
                rules,
                self.shared
                    .clock
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
                sender_id,
                provider_message_id.clone(),
                message.to.key(),
                pricing,
                held,
            );
        }
        Ok(SendOk {
            provider_message_id,
        })
    }

    async fn show_typing(&self, to: &ContactRef, _message_id: &str) -> Result<(), SendFailure> {
        let now = self.now();
        let mut shown = self.typing_shown();
        // Bounded like the history: when full, forget the indicators that have run out.
        if shown.len() >= SANDBOX_HISTORY_LIMIT {
            let lifetime = crate::domain::limits::TYPING_INDICATOR_LIFETIME;
            shown.retain(|_, at| (now - *at).to_std().is_ok_and(|age| age < lifetime));
            if shown.len() >= SANDBOX_HISTORY_LIMIT {
                shown.clear();
            }
        }
        shown.insert(to.key(), now);
        Ok(())
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
mod tests;
