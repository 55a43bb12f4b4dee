//! The outbox: claims queued messages (head of line per conversation, so replies leave in
//! the order the flow produced them), decides the window at the moment of sending, paces
//! each sender, sends, and records the outcome. Transactions are never held across the
//! provider call: claim, send, record.
//!
//! Here: the claim loop, delivering a conversation's sends one after the other, pricing a
//! converted message again, and the metrics of each outcome. One attempt at a send is in
//! `attempt.rs`, what holds a send back before the provider in `gates.rs`, its turn in
//! the sender's pace without an outbox slot in `turn.rs`, what a provider's refusal becomes
//! in `failure.rs`, and writing the outcome in `record.rs`.

use super::{LeasedSend, Wakeups};
use crate::channels::senders::Senders;
use crate::config::RetryConfig;
use crate::domain::{Clock, TemplateCategory, WindowPolicy};
use crate::metrics as m;
use crate::store::{DynStore, NextSend, OutboxItem, SendOutcome};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

mod attempt;
mod failure;
mod gates;
mod record;
mod turn;

pub(super) use record::Unrecorded;

pub struct Outbox {
    pub store: DynStore,
    pub senders: Arc<Senders>,
    pub clock: Arc<dyn Clock>,
    pub window: WindowPolicy,
    pub owner: String,
    pub concurrency: usize,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub send_timeout: Duration,
    pub retry: RetryConfig,
    /// See `outbox.unknown_outcome_wait`.
    pub unknown_outcome_wait: Duration,
    pub wake: Wakeups,
    /// Sends whose outcome could not be written yet (the database is down). While any
    /// waits, nothing is claimed: this process could otherwise claim such a send again
    /// once its lease ran out and repeat a message the provider already accepted.
    pub unrecorded: Arc<AtomicUsize>,
    /// Each declared template's category (`templates[].category`), by name; a
    /// `template_category_update` recorded in the database wins.
    pub template_categories: Arc<HashMap<String, TemplateCategory>>,
    /// Prices a message again when the window closed between its queueing (when it was
    /// priced as free-form) and its send, which turned it into its template.
    pub pricer: Arc<crate::domain::pricing::Pricer>,
    /// Records the outbox wait and the send of traced messages (`telemetry:`).
    pub tracer: crate::telemetry::Tracer,
}

/// A customer whose last message is this recent is in a conversation now: replies to them
/// go before bulk sends in the sender's pace (`channels::pacer`).
pub const LIVE_WITHIN: Duration = Duration::from_secs(10 * 60);

/// How often messages WhatsApp held back (131049) are looked for, to send on their day.
const DEFERRED_SWEEP: Duration = Duration::from_secs(30);

impl Outbox {
    /// Runs until `shutdown`, then waits for sends in flight to be recorded.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let me = self.clone();
        let claim = move |free: usize| {
            let me = me.clone();
            async move {
                if me.unrecorded.load(Ordering::SeqCst) > 0 {
                    return Vec::new();
                }
                match me
                    .store
                    .claim_outbound(
                        &me.owner,
                        me.clock.now(),
                        me.send_lease(),
                        me.unknown_outcome_wait,
                        free as i64,
                    )
                    .await
                {
                    Ok(items) => items.into_iter().map(LeasedSend::claimed).collect(),
                    Err(e) => {
                        crate::metrics::logs::error_every!(error = %e, "claiming outbound messages failed");
                        Vec::new()
                    }
                }
            }
        };
        tokio::spawn(self.clone().release_deferred(shutdown.clone()));
        let me = self.clone();
        let stopping = shutdown.clone();
        let run = move |send: LeasedSend| {
            let me = me.clone();
            let stopping = stopping.clone();
            async move {
                if send.needs_renewal(std::time::Instant::now()) && !me.renew(&send.item).await {
                    return;
                }
                turn::until(stopping, me.deliver(send.item)).await
            }
        };
        super::claim_loop(
            Arc::new(tokio::sync::Semaphore::new(self.concurrency)),
            self.poll_interval,
            self.wake.outbox.clone(),
            Some(self.wake.outbox_handoff.clone()),
            shutdown,
            claim,
            run,
        )
        .await;
    }

    /// Renews the lease of a handed-over send that waited past half of it for a slot
    /// (`LeasedSend::renew_after`): whether it is still this process's to send.
    async fn renew(&self, item: &OutboxItem) -> bool {
        match self
            .store
            .renew_outbound_lease(item, &self.owner, self.clock.now(), self.send_lease())
            .await
        {
            Ok(true) => true,
            Ok(false) => {
                tracing::debug!(
                    outbound_id = item.id,
                    "a handed send waited past its lease and was claimed again; not sent from memory"
                );
                false
            }
            Err(e) => {
                // Left to a claim once its lease has run out.
                tracing::warn!(outbound_id = item.id, error = %e, "renewing a send's lease failed");
                false
            }
        }
    }

    /// Moves held-back marketing messages whose day has come into the outbox.
    async fn release_deferred(self: Arc<Self>, shutdown: CancellationToken) {
        let every = DEFERRED_SWEEP.min(self.poll_interval.max(Duration::from_millis(50)) * 30);
        loop {
            match self.store.release_deferred(self.clock.now()).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(
                        messages = n,
                        "held-back marketing messages queued to send again"
                    );
                    self.wake.outbox.notify_one();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "releasing held-back messages failed; trying again later")
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    /// A send's lease always outlasts its provider call (twice `send_timeout`): a lease
    /// that ran out while the provider was still answering would let the send be claimed
    /// and made again, a duplicate the customer sees.
    pub fn send_lease(&self) -> Duration {
        self.lease.max(self.send_timeout * 2)
    }

    /// Sends the item, records the outcome, and goes on with its conversation's next
    /// message when the record leased it (a step's replies, one after the other).
    async fn deliver(&self, item: OutboxItem) {
        let mut item = item;
        loop {
            let outcome = match self.senders.get(item.sender_id) {
                Some(sender) => self.attempt(sender, &item).await,
                None => SendOutcome::Failed {
                    code: None,
                    title: format!("sender {} is not configured any more", item.sender_id),
                    window_closed: false,
                },
            };
            self.count(&item, &outcome);
            let next = self.record(&item, &outcome).await;
            self.reprice(&item, &outcome).await;
            match next {
                NextSend::Leased(next) => item = *next,
                NextSend::Nothing => return,
                NextSend::Unknown => {
                    // The conversation's next message may be ready: a claim looks.
                    self.wake.outbox.notify_one();
                    return;
                }
            }
        }
    }

    /// A message queued while the window was open was priced as free-form; if the window
    /// closed before it left and it went as its template, the ledger gets the template's
    /// price (one write, only on this rare path). A message queued with the window already
    /// closed was priced as its template when queued.
    async fn reprice(&self, item: &OutboxItem, outcome: &SendOutcome) {
        let SendOutcome::Accepted {
            converted_to: Some(content),
            ..
        } = outcome
        else {
            return;
        };
        if !self
            .window
            .state(item.last_inbound_at, item.created_at)
            .is_open
        {
            return;
        }
        let now = self.clock.now();
        let open =
            crate::domain::pricing::service_window_open(&self.window, item.last_inbound_at, now);
        let cost = self
            .pricer
            .predict(content, &item.message.to, open, None, now)
            .cost;
        if let Err(e) = self
            .store
            .record_prediction(item.id, item.sender_id, &cost, now)
            .await
        {
            tracing::warn!(outbound_id = item.id, error = %e, "recording the converted message's price failed");
        }
    }

    fn count(&self, item: &OutboxItem, outcome: &SendOutcome) {
        let sender = item.sender_id.to_string();
        match outcome {
            SendOutcome::Accepted { converted_to, .. } => {
                metrics::counter!(m::MESSAGES_SENT, "sender" => sender).increment(1);
                if converted_to.is_some() {
                    metrics::counter!(m::MESSAGES_CONVERTED).increment(1);
                }
                let waited = (self.clock.now() - item.created_at)
                    .to_std()
                    .unwrap_or_default();
                metrics::histogram!(m::OUTBOX_LATENCY).record(waited.as_secs_f64());
            }
            SendOutcome::Retry { code, .. } => {
                metrics::counter!(m::MESSAGES_RETRIED, "code" => code_label(*code)).increment(1)
            }
            SendOutcome::Failed { code, title, .. } => {
                // Said in the log too: a setting that fails every send (a wrong phone number
                // id, a template without a Twilio Content SID) shows nowhere else at once.
                tracing::warn!(
                    outbound_id = item.id,
                    sender_id = item.sender_id,
                    code = ?code,
                    reason = %title,
                    "a message failed for good"
                );
                metrics::counter!(m::MESSAGES_FAILED, "code" => code_label(*code)).increment(1)
            }
            SendOutcome::Skipped { .. } => metrics::counter!(m::MESSAGES_SKIPPED).increment(1),
            SendOutcome::Requeue => {}
        }
    }
}

fn code_label(code: Option<i64>) -> String {
    code.map(|c| c.to_string()).unwrap_or_else(|| "none".into())
}
