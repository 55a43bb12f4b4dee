//! The outbox: claims queued messages (head of line per conversation, so replies leave in
//! the order the flow produced them), decides the window at the moment of sending, paces
//! each sender, sends, and records the outcome. Transactions are never held across the
//! provider call: claim, send, record.

use super::retry::{decide, RetryDecision};
use super::{LeasedSend, Wakeups};
use crate::channels::pacer::Lane;
use crate::channels::senders::{SenderRuntime, Senders};
use crate::config::RetryConfig;
use crate::domain::{
    Clock, ErrorClass, OutboundContent, SendFailure, TemplateCategory, TemplateChange,
    TemplateMessage, TemplateUpdate, WindowFallback, WindowPolicy,
};
use crate::metrics as m;
use crate::store::{DynStore, NextSend, OutboxItem, SendOutcome, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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
}

/// A customer whose last message is this recent is in a conversation now: replies to them
/// go before bulk sends in the sender's pace (`channels::pacer`).
pub const LIVE_WITHIN: Duration = Duration::from_secs(10 * 60);

/// How often messages WhatsApp held back (131049) are looked for, to send on their day.
const DEFERRED_SWEEP: Duration = Duration::from_secs(30);

/// Backoff between attempts to write a send's outcome after a transient database error.
const RECORD_RETRY_FIRST: Duration = Duration::from_millis(100);
const RECORD_RETRY_MAX: Duration = Duration::from_secs(2);

/// Counts one unwritten outcome (or a lease the inbox is giving back) for as long as it
/// lives: while any lives, this process's outbox claims nothing.
pub(super) struct Unrecorded(Arc<AtomicUsize>);

impl Unrecorded {
    pub(super) fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count.clone())
    }
}

impl Drop for Unrecorded {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

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
        let run = move |send: LeasedSend| {
            let me = me.clone();
            async move {
                if send.needs_renewal(std::time::Instant::now()) && !me.renew(&send.item).await {
                    return;
                }
                me.deliver(send.item).await
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

    /// Writes the outcome, retrying a transient database error in-process for as long as
    /// it takes: what the provider did must not be forgotten, or the send would be repeated
    /// when its lease runs out.
    async fn record(&self, item: &OutboxItem, outcome: &SendOutcome) -> NextSend {
        let mut waiting: Option<Unrecorded> = None;
        let mut backoff = RECORD_RETRY_FIRST;
        loop {
            // While an earlier outcome waits to be written, claim nothing more (see
            // `unrecorded`).
            let lease = self.send_lease();
            let result = if self.unrecorded.load(Ordering::SeqCst) > 0 {
                self.store
                    .record_outcome(item.id, &self.owner, outcome, self.clock.now())
                    .await
                    .map(|()| NextSend::Unknown)
            } else {
                self.store
                    .record_outcome_and_claim_next(
                        item,
                        &self.owner,
                        outcome,
                        self.clock.now(),
                        lease,
                    )
                    .await
            };
            match result {
                Ok(next) => {
                    if waiting.is_some() {
                        tracing::info!(
                            outbound_id = item.id,
                            "send outcome recorded after the database came back"
                        );
                    }
                    return next;
                }
                Err(StoreError::LeaseLost { .. }) => {
                    tracing::warn!(
                        outbound_id = item.id,
                        "send lease expired before the outcome was recorded"
                    );
                    return NextSend::Unknown;
                }
                Err(e) if e.is_transient() => {
                    waiting.get_or_insert_with(|| Unrecorded::new(&self.unrecorded));
                    metrics::counter!(m::STORE_RETRIES, "work" => "outcome").increment(1);
                    crate::metrics::logs::log_every!(warn, outbound_id = item.id, error = %e, retry_in = ?backoff, "recording the send outcome failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(RECORD_RETRY_MAX);
                }
                Err(e) => {
                    tracing::error!(outbound_id = item.id, error = %e, "recording send outcome failed");
                    return NextSend::Unknown;
                }
            }
        }
    }

    async fn attempt(&self, sender: &SenderRuntime, item: &OutboxItem) -> SendOutcome {
        let mut message = item.message.clone();
        let mut converted: Option<OutboundContent> = None;
        if message.content.is_freeform() {
            let window = self.window.state(item.last_inbound_at, self.clock.now());
            if !window.is_open {
                match &item.fallback {
                    WindowFallback::Fail => {
                        return SendOutcome::Failed {
                            code: None,
                            title: closed_window_text(&window),
                            window_closed: true,
                        }
                    }
                    WindowFallback::Skip => {
                        return SendOutcome::Skipped {
                            reason: closed_window_text(&window),
                        }
                    }
                    WindowFallback::Template(t) => {
                        let content = OutboundContent::Template(t.clone());
                        message.content = content.clone();
                        converted = Some(content);
                    }
                }
            }
        }
        if let OutboundContent::Template(t) = &message.content {
            if let Some(outcome) = self.template_gate(item, t).await {
                return outcome;
            }
        }
        if let Some(outcome) = self.over_template_cap(sender, &message).await {
            return outcome;
        }
        if let Some(outcome) = empty_template_variable(&message.content) {
            return outcome;
        }
        // Paced first: a claimed message may wait here for its turn, and a broadcast's
        // send is judged (cancelled? opted out?) as it leaves, not as it was claimed.
        let lane = self.lane(item);
        if !self.paced(sender, lane, item).await {
            return SendOutcome::Requeue;
        }
        if let Some(outcome) = self.stop_gate(sender).await {
            return outcome;
        }
        if matches!(message.content, OutboundContent::Template(_)) {
            if let Some(outcome) = self.broadcast_gate(item).await {
                return outcome;
            }
        }
        let mut result = self.send(sender, &message, item.id).await;
        // The provider says the window is closed although our clock said open (e.g. the
        // customer's clock or a lost inbound): switch to the template fallback once.
        if let (Err(f), None, WindowFallback::Template(t)) = (&result, &converted, &item.fallback) {
            if f.class == ErrorClass::WindowClosed {
                let content = OutboundContent::Template(t.clone());
                message.content = content.clone();
                converted = Some(content);
                if !self.paced(sender, lane, item).await {
                    return SendOutcome::Requeue;
                }
                result = self.send(sender, &message, item.id).await;
            }
        }
        match result {
            Ok(ok) => SendOutcome::Accepted {
                provider_message_id: ok.provider_message_id,
                converted_to: converted,
            },
            Err(f) => self.on_failure(item, &message.content, f).await,
        }
    }

    /// Waits for the send's turn in its sender's pace. A bulk send can wait long while
    /// replies go first: past half its lease it renews the lease before going; `false`
    /// when it is no longer this process's to send (or the renewal failed).
    async fn paced(&self, sender: &SenderRuntime, lane: Lane, item: &OutboxItem) -> bool {
        let asked = std::time::Instant::now();
        sender.pace(lane).await;
        asked.elapsed() <= self.send_lease() / 2 || self.renew(item).await
    }

    /// The line a send waits in for its sender's pace: a customer who wrote within
    /// [`LIVE_WITHIN`] is talking to the business now and their reply goes first;
    /// broadcasts, scheduled sends and sends to anyone else take what is left.
    fn lane(&self, item: &OutboxItem) -> Lane {
        let now = self.clock.now();
        match item.last_inbound_at {
            Some(at) if (now - at).to_std().unwrap_or_default() <= LIVE_WITHIN => Lane::Live,
            _ => Lane::Bulk,
        }
    }

    /// Once this process saw the provider stop `sender` (190, 368), the sends it had
    /// claimed before do not go while the stop is recorded: they are put back, like the
    /// send that met the refusal (64 more refusals in 3 s otherwise, with
    /// `outbox.concurrency` sends in hand). Resumed (the stop gone from the database),
    /// sending goes on. Only a sender whose stop this process saw pays the look.
    async fn stop_gate(&self, sender: &SenderRuntime) -> Option<SendOutcome> {
        if !sender.stop_seen.load(Ordering::Relaxed) {
            return None;
        }
        match self.store.stopped_senders().await {
            Ok(stops) if stops.iter().any(|s| s.sender_id == sender.config.id) => {
                Some(SendOutcome::Requeue)
            }
            Ok(_) => {
                sender.stop_seen.store(false, Ordering::Relaxed);
                None
            }
            Err(e) => {
                crate::metrics::logs::log_every!(warn, error = %e, "reading the stopped senders failed; the send waits");
                Some(SendOutcome::Requeue)
            }
        }
    }

    /// A broadcast's send (always a template) does not go once its broadcast was
    /// cancelled or its customer opted out, however long it waited in the outbox or
    /// whichever process had claimed it.
    async fn broadcast_gate(&self, item: &OutboxItem) -> Option<SendOutcome> {
        match self.store.broadcast_send_stop(item.id).await {
            Ok(reason) => reason.map(|reason| SendOutcome::Skipped { reason }),
            Err(e) => {
                tracing::warn!(error = %e, id = item.id, "reading whether a broadcast's send may go failed; sending it");
                None
            }
        }
    }

    /// A template Meta paused, disabled or rejected is not sent (the reason is the
    /// failure); a marketing template is not sent to a customer who stopped marketing, nor
    /// before WhatsApp's per-user marketing limit (131049) has let the customer go.
    async fn template_gate(&self, item: &OutboxItem, t: &TemplateMessage) -> Option<SendOutcome> {
        let live = match self.store.live_template(&t.name, &t.language).await {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!(error = %e, "reading the template's live status failed; sending anyway");
                None
            }
        };
        if let Some(reason) = live.as_ref().and_then(|l| l.unsendable_reason()) {
            return Some(SendOutcome::Failed {
                code: None,
                title: reason,
                window_closed: false,
            });
        }
        let now = self.clock.now();
        let category = live
            .and_then(|l| l.category_at(now))
            .or_else(|| self.template_categories.get(&t.name).copied());
        if category != Some(TemplateCategory::Marketing) {
            return None;
        }
        let state = match self.store.marketing_state(item.conversation_id).await {
            Ok(state) => state,
            Err(e) => {
                tracing::warn!(error = %e, "reading the contact's marketing state failed; sending anyway");
                return None;
            }
        };
        if let Some(at) = state.stopped_at {
            return Some(SendOutcome::Skipped {
                reason: format!(
                    "the customer stopped marketing messages on {}: marketing template `{}` is not sent (utility and service messages still are)",
                    at.format("%Y-%m-%d"),
                    t.name
                ),
            });
        }
        let now = self.clock.now();
        match state.limited_until {
            Some(until) if until > now => Some(self.defer(None)),
            _ => None,
        }
    }

    /// WhatsApp held this marketing message back (131049), or the customer's limit from an
    /// earlier one still runs: this send fails with code 131049, and recording that failure
    /// keeps a copy for its day on the ladder in the same transaction (`Account`).
    fn defer(&self, code: Option<i64>) -> SendOutcome {
        let why = match code {
            Some(code) => format!("WhatsApp held this marketing message back ({code}: per-user marketing limit)"),
            None => "WhatsApp held an earlier marketing message to this customer back (131049) less than 24 hours ago".into(),
        };
        let ladder = crate::domain::error_class::MARKETING_DEFER_LADDER_HOURS
            .map(|h| format!("{h} h"))
            .join(", then ");
        SendOutcome::Failed {
            code: Some(code.unwrap_or(131049)),
            title: format!(
                "{why}; not sent again at once: a copy is sent after {ladder} (one step per hold), then it is given up"
            ),
            window_closed: false,
        }
    }

    /// A template beyond the sender's daily cap waits for the next UTC day. Concurrent sends
    /// may pass the cap by at most `outbox.concurrency`.
    async fn over_template_cap(
        &self,
        sender: &SenderRuntime,
        message: &crate::domain::OutboundMessage,
    ) -> Option<SendOutcome> {
        let cap = sender.config.daily_template_cap?;
        if message.content.is_freeform() {
            return None;
        }
        let now = self.clock.now();
        let midnight = now.date_naive().and_hms_opt(0, 0, 0)?.and_utc();
        match self.store.templates_sent_since(sender.config.id, midnight).await {
            Ok(n) if n >= i64::from(cap) => Some(SendOutcome::Retry {
                at: midnight + chrono::Duration::days(1),
                code: None,
                title: format!("daily template cap of {cap} reached for sender {}; sending resumes at 00:00 UTC", sender.config.id),
            }),
            Ok(_) => None,
            Err(e) => {
                tracing::error!(error = %e, "counting today's templates failed; sending anyway");
                None
            }
        }
    }

    async fn send(
        &self,
        sender: &SenderRuntime,
        message: &crate::domain::OutboundMessage,
        outbox_id: i64,
    ) -> Result<crate::channels::SendOk, SendFailure> {
        // Paced by the caller (`attempt`).
        match tokio::time::timeout(
            self.send_timeout,
            sender.channel.send_tracked(message, Some(outbox_id)),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(SendFailure::unknown_outcome(format!(
                "no answer from the provider within {}",
                humantime::format_duration(self.send_timeout)
            ))),
        }
    }

    /// `sent` is what went to the provider: the fallback template when a closed window
    /// converted a free-form message.
    async fn on_failure(
        &self,
        item: &OutboxItem,
        sent: &OutboundContent,
        f: SendFailure,
    ) -> SendOutcome {
        if f.outcome_unknown {
            // Not blindly again: the provider may have taken it. A status naming this send
            // settles it meanwhile (see `StatusUpdate::outbox_id`); without one, it is sent
            // again after the wait, which counts as an attempt.
            metrics::counter!(m::SENDS_OUTCOME_UNKNOWN).increment(1);
            let attempts = (item.attempts.max(0) as u32) + 1;
            if attempts < self.retry.max_attempts {
                return SendOutcome::Retry {
                    at: self.clock.now()
                        + chrono::Duration::from_std(self.unknown_outcome_wait)
                            .unwrap_or_else(|_| chrono::Duration::seconds(60)),
                    code: None,
                    title: format!(
                        "{}; waiting up to {:?} for a status before sending again",
                        f.title, self.unknown_outcome_wait
                    ),
                };
            }
        }
        match f.class {
            ErrorClass::Retry => {
                let attempts = (item.attempts.max(0) as u32) + 1;
                let now = self.clock.now();
                match decide(
                    &self.retry,
                    attempts,
                    item.created_at,
                    now,
                    f.retry_after,
                    &mut rand::rng(),
                ) {
                    RetryDecision::RetryAt(at) => SendOutcome::Retry {
                        at,
                        code: f.code,
                        title: f.title,
                    },
                    RetryDecision::GiveUp => SendOutcome::Failed {
                        code: f.code,
                        title: format!("gave up after {attempts} attempts: {}", f.title),
                        window_closed: false,
                    },
                }
            }
            ErrorClass::WindowClosed => SendOutcome::Failed {
                code: f.code,
                title: f.title,
                window_closed: true,
            },
            ErrorClass::StopSender => {
                tracing::error!(
                    sender_id = item.sender_id,
                    code = ?f.code,
                    reason = %f.title,
                    "provider refused the sender's credentials or account; sending from it is stopped until it is resumed"
                );
                if let Err(e) = self
                    .store
                    .stop_sender(item.sender_id, f.code, &f.title, self.clock.now())
                    .await
                {
                    tracing::error!(error = %e, "recording the stopped sender failed");
                }
                metrics::gauge!(m::SENDER_STOPPED, "sender" => item.sender_id.to_string()).set(1.0);
                // After the stop is written: a send that looks at it finds it.
                if let Some(sender) = self.senders.get(item.sender_id) {
                    sender.stop_seen.store(true, Ordering::Relaxed);
                }
                SendOutcome::Requeue
            }
            ErrorClass::Permanent => SendOutcome::Failed {
                code: f.code,
                title: explained(f.code, f.title),
                window_closed: false,
            },
            ErrorClass::MarketingLimited => self.defer(f.code),
            // Recording this failure marks the customer (`Account`).
            ErrorClass::MarketingStopped => SendOutcome::Failed {
                code: f.code,
                title: explained(f.code, f.title),
                window_closed: false,
            },
            ErrorClass::NeedsPhone => SendOutcome::Failed {
                code: f.code,
                title: format!(
                    "{}: Parley knows no phone number for this customer, only their business-scoped user id",
                    explained(f.code, f.title)
                ),
                window_closed: false,
            },
            ErrorClass::TemplateUnavailable => {
                if let OutboundContent::Template(t) = sent {
                    let status = if f.code == Some(132016) { "disabled" } else { "paused" };
                    let update = TemplateUpdate {
                        name: t.name.clone(),
                        language: Some(t.language.clone()),
                        template_id: None,
                        change: TemplateChange::Status {
                            status: status.into(),
                            reason: Some(f.title.clone()),
                            category: None,
                        },
                    };
                    if let Err(e) = self.store.record_template_update(&update, self.clock.now()).await {
                        tracing::error!(error = %e, "recording the template's status failed");
                    }
                }
                SendOutcome::Failed {
                    code: f.code,
                    title: explained(f.code, f.title),
                    window_closed: false,
                }
            }
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

/// A template whose variable rendered empty (a blank with nothing in it) fails here, with a
/// sentence that says how to fix the flow, instead of being refused by the provider.
fn empty_template_variable(content: &OutboundContent) -> Option<SendOutcome> {
    let OutboundContent::Template(t) = content else {
        return None;
    };
    let name = t.empty_variable()?;
    Some(SendOutcome::Failed {
        code: None,
        title: format!(
            "template `{}`: variable {{{{{name}}}}} is empty, and WhatsApp refuses empty template parameters; give the blank a default, e.g. `{{{{ contact.name | default: friend }}}}`",
            t.name
        ),
        window_closed: false,
    })
}

/// The provider's title, with Parley's words for the code when the table has them.
fn explained(code: Option<i64>, title: String) -> String {
    match code.and_then(crate::domain::error_class::code_info) {
        Some((_, words)) if !title.contains(words) => format!("{title} ({words})"),
        _ => title,
    }
}

fn code_label(code: Option<i64>) -> String {
    code.map(|c| c.to_string()).unwrap_or_else(|| "none".into())
}

fn closed_window_text(w: &crate::domain::WindowState) -> String {
    match w.last_inbound_at {
        Some(at) => format!(
            "the 24-hour customer service window is closed (last inbound message at {})",
            at.to_rfc3339()
        ),
        None => "the 24-hour customer service window is not open: the customer never wrote".into(),
    }
}
