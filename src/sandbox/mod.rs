//! The sandbox as a whole: try flows as a customer without a WhatsApp number. It owns
//! what the sandbox senders add to a running Parley — injecting customer messages through
//! the same ingest path as webhooks (`inject.rs`), the store and ingest behind the sandbox
//! channel's window lookups and delivery statuses (`link.rs`), the engine traces of their events in a
//! bounded ring (`traces.rs`) and the optional manual clock. `parley simulate` and
//! `parley test` drive it in-process (`cli/driver.rs`).
//!
//! Nothing here is on the hot path of real senders: conversations of other senders are
//! neither traced nor reachable through the sandbox API.

pub mod choices;
pub mod inject;
mod link;
pub mod traces;
pub mod view;

use crate::channels::sandbox::{SandboxChannel, SandboxRules};
use crate::channels::senders::Senders;
use crate::config::{ChannelKind, Config, SandboxConfig};
use crate::domain::{Clock, ContactRef, ManualClock, PhoneNumber};
use crate::engine::{Engine, FlowEngine};
use crate::store::DynStore;
use crate::workers::ingest::Ingestor;
use std::sync::Arc;
pub use traces::{TraceLog, TracedEvent};

/// The sandbox part of `AppState`; cheap to clone.
#[derive(Clone)]
pub struct Sandbox {
    pub config: SandboxConfig,
    /// Ids of the senders with `channel: sandbox`, in config order.
    pub sender_ids: Arc<Vec<i64>>,
    pub traces: TraceLog,
    pub channel: SandboxChannel,
    /// Set when `sandbox.manual_clock: true`: the app runs on this clock.
    pub manual_clock: Option<ManualClock>,
    /// Where a customer's attached file goes (`media.data`): the media store, as if it
    /// had been downloaded from a provider.
    pub media_files: crate::store::files::MediaFiles,
}

impl Sandbox {
    /// Wires the sandbox into an app being built. Returns the clock the app must run on
    /// (a manual one when `sandbox.manual_clock` is set).
    pub fn build(
        config: &Config,
        clock: Arc<dyn Clock>,
        senders: &Senders,
        store: &DynStore,
        ingestor: &Ingestor,
        media_files: crate::store::files::MediaFiles,
    ) -> (Arc<dyn Clock>, Self) {
        let manual_clock = config
            .sandbox
            .manual_clock
            .then(|| ManualClock::new(clock.now()));
        let clock: Arc<dyn Clock> = match &manual_clock {
            Some(m) => Arc::new(m.clone()),
            None => clock,
        };
        let sender_ids: Vec<i64> = config
            .senders
            .iter()
            .filter(|s| s.channel == ChannelKind::Sandbox)
            .map(|s| s.id)
            .collect();
        let link = Arc::new(link::ParleyLink {
            store: store.clone(),
            ingestor: ingestor.clone(),
        });
        let rules = SandboxRules::new(
            config.sandbox.clone(),
            config.templates.clone(),
            config.window.policy(),
        )
        .with_parley(link.clone(), link);
        senders.sandbox.attach(clock.clone(), rules);
        let sandbox = Self {
            config: config.sandbox.clone(),
            sender_ids: Arc::new(sender_ids),
            traces: TraceLog::default(),
            channel: senders.sandbox.clone(),
            manual_clock,
            media_files,
        };
        (clock, sandbox)
    }

    /// Who a sandbox customer typed as `phone` is to Parley: that phone, or with
    /// `sandbox.withhold_phones` only a business-scoped user id derived from it.
    pub fn customer(&self, phone: PhoneNumber) -> ContactRef {
        if self.config.withhold_phones {
            ContactRef::BusinessScoped(sandbox_user_id(&phone))
        } else {
            ContactRef::Phone(phone)
        }
    }

    /// Whether `/sandbox` and `/sandbox/api` are served.
    pub fn serves_http(&self) -> bool {
        self.off_reason().is_none()
    }

    /// Why `/sandbox` and `/sandbox/api` are not served, and how to serve them; `None`
    /// when they are.
    pub fn off_reason(&self) -> Option<String> {
        let mut why = Vec::new();
        if !self.config.enabled {
            why.push(
                "the config turns it off (`sandbox: { enabled: false }`); set `enabled: true` \
                 in the `sandbox:` section, or remove `enabled: false`",
            );
        }
        if self.sender_ids.is_empty() {
            why.push(
                "no sender has `channel: sandbox`; add one under `senders:`, for example \
                 `- { id: 3, name: Sandbox, channel: sandbox, phone_number: \"+15550000000\" }`",
            );
        }
        if why.is_empty() {
            return None;
        }
        Some(format!(
            "The sandbox is off: {}. Then restart Parley.",
            why.join("; and ")
        ))
    }

    /// Waits until the sandbox senders have no event to handle and no message to send
    /// (twice in a row, 3 ms apart), waking the workers while they have, or until
    /// `deadline`. Returns what is left: 0 once the bot is done.
    pub async fn settle(
        &self,
        store: &DynStore,
        wake: &crate::workers::Wakeups,
        deadline: std::time::Instant,
    ) -> crate::store::StoreResult<i64> {
        let mut quiet = 0;
        loop {
            let mut backlog = 0;
            for sender in self.sender_ids.iter() {
                backlog += store.backlog(*sender).await?;
            }
            if backlog == 0 {
                quiet += 1;
                if quiet >= 2 {
                    return Ok(0);
                }
            } else {
                quiet = 0;
                wake.inbox.notify_one();
                wake.outbox.notify_one();
            }
            if std::time::Instant::now() >= deadline {
                return Ok(backlog);
            }
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
    }

    pub fn is_sandbox_sender(&self, sender_id: i64) -> bool {
        self.sender_ids.contains(&sender_id)
    }

    /// The engine the inbox should run: traced for sandbox conversations, untouched
    /// otherwise (and the plain engine when there is no sandbox sender).
    pub fn engine(&self, engine: Arc<FlowEngine>) -> Arc<dyn Engine> {
        if self.sender_ids.is_empty() {
            return engine;
        }
        Arc::new(traces::TracingEngine {
            engine,
            senders: self.sender_ids.clone(),
            log: self.traces.clone(),
        })
    }
}

/// The business-scoped user id the sandbox gives the customer with `phone` when phones are
/// withheld: shaped like Meta's (`US.` and digits), stable for the phone, and not the
/// phone's digits, so nothing can lean on it being one.
pub fn sandbox_user_id(phone: &PhoneNumber) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("parley-sandbox:{}", phone.as_e164()).as_bytes());
    let mut n = [0u8; 8];
    n.copy_from_slice(&digest[..8]);
    format!("ZZ.{:020}", u64::from_be_bytes(n))
}

#[cfg(test)]
mod user_id_tests {
    use super::*;

    #[test]
    fn sandbox_user_ids_are_stable_shaped_and_distinct() {
        let a = PhoneNumber::parse("+16315551181").unwrap();
        let b = PhoneNumber::parse("+16315551182").unwrap();
        assert_eq!(sandbox_user_id(&a), sandbox_user_id(&a));
        assert_ne!(sandbox_user_id(&a), sandbox_user_id(&b));
        assert!(crate::domain::is_user_id(&sandbox_user_id(&a)));
        assert!(!sandbox_user_id(&a).contains("6315551181"));
    }
}
