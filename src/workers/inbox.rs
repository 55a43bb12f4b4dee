//! The inbox: claims conversations that have new events (with a lease, so one process and
//! one task at a time handle a conversation), runs the engine on each event in arrival
//! order, and commits each step's output in one transaction. Many conversations proceed in
//! parallel, bounded by `inbox.concurrency`.

use super::{Handoff, Leased, Wakeups};
use crate::domain::EventKind;
use crate::domain::{Clock, ContactRef, Conversation, OutboundMessage, StoredEvent, WindowPolicy};
use crate::engine::{Engine, StepInput, StepOutput};
use crate::metrics as m;
use crate::store::{
    ClaimedWork, ConversationWork, DynStore, InboxClaim, NewOutbound, Origin, StepCommit,
    StoreError,
};
use chrono::{DateTime, Utc};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Events loaded per round trip for one conversation.
const EVENTS_PER_LOAD: i64 = 32;
/// Backoff between retries of a conversation after a transient database error.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// A conversation's work for a worker, claimed by the inbox or handed over by an ingest.
type InboxWork = Leased<ClaimedWork>;

mod claims;
mod out_events;
mod spans;

use claims::Claimer;
pub use claims::IngestClaims;

/// Wakes this process's inbox whenever a process sharing the database says that work waits
/// for a claim (`Process::work_announcements`: its own inbox had no room), until
/// `shutdown`; nothing where no other process can leave work.
pub async fn follow_announcements(store: DynStore, wake: Wakeups, shutdown: CancellationToken) {
    let Some(mut announced) = store.work_announcements() else {
        return;
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            a = announced.recv() => match a {
                Some(()) => {
                    metrics::counter!(m::INBOX_ANNOUNCEMENTS).increment(1);
                    wake.inbox.notify_one();
                }
                None => return,
            },
        }
    }
}

pub struct Inbox {
    pub store: DynStore,
    pub engine: Arc<dyn Engine>,
    pub clock: Arc<dyn Clock>,
    pub window: WindowPolicy,
    pub owner: String,
    pub concurrency: usize,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub wake: Wakeups,
    /// The outbox lease when this process runs an outbox: a step's first reply is then
    /// leased to it in the step's own commit and handed over (`Wakeups::outbox_handoff`).
    pub hand_to_outbox: Option<Duration>,
    /// Prices each reply before it is queued (the cost ledger).
    pub pricer: Arc<crate::domain::pricing::Pricer>,
    /// Hand-over leases, unique in this process, and their give-back after a lost commit.
    pub handing: Handing,
    /// Records the inbox wait and the flow's handling of traced messages (`telemetry:`).
    pub tracer: crate::telemetry::Tracer,
}

/// How long the inbox keeps trying to give back the lease of a reply whose commit's answer
/// was lost (the database must answer first); meanwhile the outbox claims nothing.
const GIVE_BACK_MAX: Duration = Duration::from_secs(600);

/// The leases a step commit hands its first reply to this process's outbox with: each
/// one's end is unique in the process (a microsecond later than the one before if need
/// be), so the reply of a commit whose answer never came can be found by it and given
/// back (`Outbox::release_handed`). Without that, a reply committed just as the database
/// went away sat leased to an outbox that never got it: after the lease, it waited
/// `unknown_outcome_wait` as if its process had died, and the conversation's later
/// replies behind it.
pub struct Handing {
    /// The outbox's count of outcomes it must write before it claims again.
    outbox_unrecorded: Arc<std::sync::atomic::AtomicUsize>,
    last_micros: std::sync::atomic::AtomicI64,
}

impl Handing {
    pub fn new(outbox_unrecorded: Arc<std::sync::atomic::AtomicUsize>) -> Self {
        Self {
            outbox_unrecorded,
            last_micros: Default::default(),
        }
    }

    /// `queued_at + lease`, whole microseconds (as the databases keep it), later than
    /// every end handed out before in this process.
    fn until(
        &self,
        queued_at: chrono::DateTime<chrono::Utc>,
        lease: Duration,
    ) -> chrono::DateTime<chrono::Utc> {
        use std::sync::atomic::Ordering::SeqCst;
        let lease = chrono::TimeDelta::from_std(lease).unwrap_or(chrono::TimeDelta::MAX);
        let wanted = queued_at
            .checked_add_signed(lease)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
            .timestamp_micros();
        let mut last = self.last_micros.load(SeqCst);
        loop {
            let next = wanted.max(last.saturating_add(1));
            match self
                .last_micros
                .compare_exchange(last, next, SeqCst, SeqCst)
            {
                Ok(_) => {
                    return chrono::DateTime::from_timestamp_micros(next)
                        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
                }
                Err(seen) => last = seen,
            }
        }
    }
}

impl Inbox {
    /// Runs until `shutdown`, then waits for conversations in progress to finish their
    /// current step.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let me = self.clone();
        let claim = move |free: usize| {
            let me = me.clone();
            async move {
                match me
                    .store
                    .claim_work(
                        &me.owner,
                        me.clock.now(),
                        me.lease,
                        free as i64,
                        EVENTS_PER_LOAD,
                    )
                    .await
                {
                    Ok(items) => items
                        .into_iter()
                        .map(|work| Leased::claimed(ClaimedWork::ready(work)))
                        .collect(),
                    Err(e) => {
                        crate::metrics::logs::error_every!(error = %e, "claiming conversations failed");
                        Vec::new()
                    }
                }
            }
        };
        let me = self.clone();
        let run = move |item| {
            let me = me.clone();
            async move { me.process(item).await }
        };
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let claims = self.wake.ingest_claims.clone();
        claims.open(Claimer {
            owner: self.owner.as_str().into(),
            lease: self.lease,
            clock: self.clock.clone(),
            slots: slots.clone(),
        });
        super::claim_loop(
            slots,
            self.poll_interval,
            self.wake.inbox.clone(),
            Some(claims.handoff.clone()),
            shutdown,
            claim,
            run,
        )
        .await;
        claims.close();
    }

    /// Renews this process's lease of the conversation for another `lease` from now:
    /// whether it still held it.
    async fn renew_lease(&self, conversation_id: i64) -> Result<bool, StoreError> {
        let until = self
            .clock
            .now()
            .checked_add_signed(
                chrono::TimeDelta::from_std(self.lease).unwrap_or(chrono::TimeDelta::MAX),
            )
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        self.store
            .renew_conversation_lease(conversation_id, &self.owner, until)
            .await
    }

    async fn process(&self, work: InboxWork) {
        let renew = work.needs_renewal(Instant::now());
        let conversation_id = work.item.conversation_id;
        // Read from the rows its claim loaded; or, handed over with its lease only, loaded
        // by `process_events` (with its retries of transient errors).
        let work = match work.item.read() {
            Some(Ok(work)) => Some(work),
            None => None,
            Some(Err(e)) => {
                // As a claim leaves out what it cannot read: retried when the lease runs out.
                tracing::error!(conversation_id, error = %e, "loading a conversation failed; will retry after the lease expires");
                return;
            }
        };
        if renew {
            // Handed over and kept waiting for a slot: the lease is renewed before the step
            // runs, or the work is left to a claim once the lease runs out.
            match self.renew_lease(conversation_id).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(
                        conversation_id,
                        "a handed-over conversation's lease was lost while it waited"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(conversation_id, error = %e, "renewing a handed-over conversation's lease failed; left to a claim");
                    return;
                }
            }
        }
        let mut first = work;
        // A transient database error (unreachable, restarting, busy, disk full) is retried
        // here after a short backoff while the lease still has time, instead of parking the
        // conversation until its lease runs out. Nothing of a failed step was committed, so
        // running it again is safe.
        let started = tokio::time::Instant::now();
        let mut backoff = RETRY_FIRST;
        let result = loop {
            let attempt = tokio::select! {
                r = self.process_events(conversation_id, first.take()) => r,
                _ = self.keep_lease(conversation_id) => unreachable!("keeping the lease never ends"),
            };
            match attempt {
                Err(e) if e.is_transient() && started.elapsed() + backoff < self.lease / 2 => {
                    metrics::counter!(m::STORE_RETRIES, "work" => "inbox").increment(1);
                    tracing::warn!(conversation_id, error = %e, retry_in = ?backoff, "database error; retrying the conversation");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
                other => break other,
            }
        };
        match result {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => match e {
                StoreError::LeaseLost { .. } => {
                    tracing::warn!(
                        conversation_id,
                        "lease lost; another process continues this conversation"
                    );
                    return;
                }
                e => {
                    // Keep the lease: the conversation is retried when it expires, which
                    // spaces out retries of a persistent failure instead of spinning.
                    tracing::error!(conversation_id, error = %e, "processing conversation failed; will retry after the lease expires");
                    return;
                }
            },
        }
        if let Err(e) = self
            .store
            .release_conversation(conversation_id, &self.owner)
            .await
        {
            tracing::error!(conversation_id, error = %e, "releasing conversation failed");
        }
        // Events may have arrived after the last load: a claim looks.
        self.wake.inbox.notify_one();
    }

    /// A step commit that would have handed its first reply to this process's outbox failed
    /// in a way that may have come after it landed (the connection lost mid-commit): once
    /// the database answers, that reply's hand-over lease is given back, so a claim sends
    /// it at once. Nothing else can hold it: the outbox never got it. Until then the outbox
    /// claims nothing (a claim would find the lease run out and hold the reply for
    /// `unknown_outcome_wait`, as a dead process's).
    fn give_back(&self, conversation_id: i64, hand_until: chrono::DateTime<chrono::Utc>) {
        let guard = super::outbox::Unrecorded::new(&self.handing.outbox_unrecorded);
        let (store, owner, wake) = (self.store.clone(), self.owner.clone(), self.wake.clone());
        tokio::spawn(async move {
            let _guard = guard;
            let started = Instant::now();
            let mut backoff = RETRY_FIRST;
            loop {
                match store
                    .release_handed(conversation_id, &owner, hand_until)
                    .await
                {
                    Ok(released) => {
                        if released > 0 {
                            tracing::info!(
                                conversation_id,
                                "a reply whose commit's answer was lost is sent now"
                            );
                            wake.outbox.notify_one();
                        }
                        return;
                    }
                    Err(e) if e.is_transient() && started.elapsed() < GIVE_BACK_MAX => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(RETRY_MAX);
                    }
                    Err(e) => {
                        tracing::warn!(conversation_id, error = %e, "giving back a reply's hand-over lease failed; it waits for its lease to run out");
                        return;
                    }
                }
            }
        });
    }

    /// Renews the conversation's lease every third of it while a step runs long (a model
    /// call, an `http` step), so no other worker takes the conversation meanwhile.
    async fn keep_lease(&self, conversation_id: i64) {
        let every = self.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            match self.renew_lease(conversation_id).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(conversation_id, "lease lost while a step ran");
                    std::future::pending::<()>().await;
                }
                Err(e) => tracing::warn!(conversation_id, error = %e, "renewing a lease failed"),
            }
        }
    }

    /// Handles the conversation's waiting events. `Ok(true)`: the last step's commit gave
    /// the conversation back already.
    async fn process_events(
        &self,
        conversation_id: i64,
        loaded: Option<ConversationWork>,
    ) -> Result<bool, StoreError> {
        let mut loaded = loaded;
        loop {
            let mut work = match loaded.take() {
                Some(work) => work,
                None => {
                    self.store
                        .load_work(conversation_id, EVENTS_PER_LOAD)
                        .await?
                }
            };
            if work.events.is_empty() {
                return Ok(false);
            }
            let Some(to) = work.contact.contact_ref() else {
                return Err(StoreError::Corrupt(format!(
                    "contact {} has an unreadable key {:?}",
                    work.contact.id, work.contact.key
                )));
            };
            let n = work.events.len();
            // With fewer events than asked for, this batch is all there is: the last step's
            // commit also releases the conversation (one transaction instead of two).
            let last_batch = (n as i64) < EVENTS_PER_LOAD;
            for (i, event) in work.events.iter().enumerate() {
                let now = self.clock.now();
                let window = self.window.state(work.conversation.last_inbound_at, now);
                let input = StepInput {
                    conversation: &work.conversation,
                    contact: &work.contact,
                    event,
                    window: &window,
                    now,
                    broadcast_reply: work.broadcast_reply.as_ref(),
                };
                let traced = spans::begin(&self.tracer, work.conversation.sender_id, event, now);
                let active = traced.as_ref().map(spans::Traced::active);
                let mut output = crate::telemetry::within(active, self.handle(input)).await;
                // A step that waited on a model or an `http` answer queues its replies now:
                // their `created_at`, and the window they are priced in. Any other step's
                // replies keep the moment it ran, shared with what else it recorded (a
                // handoff's start, say).
                let queued_at = if output.waited {
                    self.clock.now().max(now)
                } else {
                    now
                };
                let mut outbound = self.outbound(
                    conversation_id,
                    &work.conversation,
                    &to,
                    queued_at,
                    &mut output,
                );
                spans::carry(traced.as_ref(), &mut outbound);
                let has_replies = !outbound.is_empty();
                // Built only when someone listens (`EventsLog::records_events`).
                let events = if self.store.records_events() {
                    out_events::of_step(&out_events::StepDone {
                        before: &work.conversation.state,
                        after: &output.state,
                        insights: &output.insights,
                        contact: &work.contact,
                        patch: output.contact_patch.as_ref(),
                        event,
                        sender_id: work.conversation.sender_id,
                        now,
                    })
                } else {
                    Vec::new()
                };
                let commit = StepCommit {
                    conversation_id,
                    owner: self.owner.clone(),
                    event_id: event.id,
                    state: output.state.clone(),
                    contact_patch: output.contact_patch.clone(),
                    outbound,
                    timers: output.timers,
                    cancel_timers: output.cancel_timers,
                    now,
                    queued_at,
                    release: last_batch && i + 1 == n,
                    insights: output.insights,
                    events,
                    hand_until: self
                        .hand_to_outbox
                        .filter(|_| has_replies)
                        .map(|lease| self.handing.until(queued_at, lease)),
                };
                let committed = match self
                    .store
                    .commit_step_and_claim(&commit, self.hand_to_outbox)
                    .await
                {
                    Ok(committed) => committed,
                    Err(e) => {
                        if let (Some(until), true) = (commit.hand_until, e.is_transient()) {
                            self.give_back(conversation_id, until);
                        }
                        return Err(e);
                    }
                };
                let handed = committed.handed.is_some();
                if let (Some(item), Some(lease)) = (committed.handed, self.hand_to_outbox) {
                    self.wake.outbox_handoff.push(Leased::handed(item, lease));
                }
                if committed.more_work {
                    self.wake.inbox.notify_one();
                }
                count_step(&commit, event, now);
                if let Some(traced) = traced {
                    traced.finish(&commit);
                }
                if has_replies && !handed {
                    self.wake.outbox.notify_one();
                }
                if !commit.timers.is_empty() {
                    self.wake.timers.notify_one();
                }
                work.conversation.state = output.state;
                if let Some(patch) = output.contact_patch {
                    // As the store applied it, so the next event sees the stored contact.
                    let c = &mut work.contact;
                    patch.apply_to(&mut c.name, &mut c.attributes, &mut c.tags);
                }
            }
            if last_batch {
                return Ok(true);
            }
        }
    }

    /// Runs the engine on one event. A bug must not wedge the conversation: a panic
    /// consumes the event with no effect, and is counted and logged.
    async fn handle(&self, input: StepInput<'_>) -> StepOutput {
        let conversation = input.conversation;
        let (conversation_id, event_id) = (conversation.id, input.event.id);
        match AssertUnwindSafe(self.engine.handle(input))
            .catch_unwind()
            .await
        {
            Ok(output) => output,
            Err(_) => {
                metrics::counter!(m::ENGINE_PANICS).increment(1);
                tracing::error!(conversation_id, event_id, "engine panicked; event skipped");
                StepOutput::unchanged(&conversation.state)
            }
        }
    }

    /// The step's replies as outbox rows to `to`, each priced in the window of `queued_at`,
    /// the moment they are queued.
    fn outbound(
        &self,
        conversation_id: i64,
        conversation: &Conversation,
        to: &ContactRef,
        queued_at: DateTime<Utc>,
        output: &mut StepOutput,
    ) -> Vec<NewOutbound> {
        let queued_window = self.window.state(conversation.last_inbound_at, queued_at);
        let priced_open = crate::domain::pricing::service_window_open(
            &self.window,
            conversation.last_inbound_at,
            queued_at,
        );
        std::mem::take(&mut output.replies)
            .into_iter()
            .map(|r| {
                // A thread-control call (conversation routing) is no message: not priced.
                let priced = !matches!(r.content, crate::domain::OutboundContent::ThreadControl(_));
                let cost = priced.then(|| {
                    self.pricer.price_send(
                        &r.content,
                        &r.fallback,
                        to,
                        queued_window.is_open,
                        priced_open,
                        &mut output.state.entry_point,
                        queued_at,
                    )
                });
                NewOutbound {
                    sender_id: conversation.sender_id,
                    conversation_id,
                    message: OutboundMessage {
                        to: to.clone(),
                        content: r.content,
                        trace: None,
                    },
                    fallback: r.fallback,
                    origin: Origin::Flow,
                    flow: r.flow,
                    step: r.step,
                    cost,
                }
            })
            .collect()
    }
}

/// The metrics of one committed step: the flows' runs, each reply's price, and how long a
/// customer's message waited for its step.
fn count_step(commit: &StepCommit, event: &StoredEvent, now: DateTime<Utc>) {
    for c in commit.insights.counts.iter().filter(|c| c.step.is_empty()) {
        metrics::counter!(m::FLOW_RUNS, "flow" => c.flow.clone(), "outcome" => c.what)
            .increment(c.n as u64);
    }
    for o in &commit.outbound {
        if let Some(cost) = &o.cost {
            m::message_priced(
                o.sender_id,
                o.flow.as_deref().unwrap_or("none"),
                cost.category.as_str(),
                cost.pricing_type.as_str(),
                cost.price_micros,
            );
        }
    }
    if let EventKind::Message(_) = &event.kind {
        let waited = (now - event.received_at).to_std().unwrap_or_default();
        metrics::histogram!(m::INBOX_LATENCY).record(waited.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pricing::{Pricer, RateCard};
    use crate::engine::StepOutput;
    use crate::store::testing::fixtures::text_now;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Hand-over leases end in whole microseconds (as the databases keep them), each later
    /// than the one before in the process, even for steps queued in the same instant.
    #[test]
    fn hand_over_leases_end_at_unique_microseconds() {
        let handing = Handing::new(Default::default());
        let at = chrono::DateTime::from_timestamp(1_790_000_000, 123_456_789).unwrap();
        let lease = Duration::from_secs(30);
        let first = handing.until(at, lease);
        assert_eq!(first.timestamp_subsec_nanos() % 1_000, 0);
        assert_eq!(first.timestamp(), 1_790_000_030);
        let second = handing.until(at, lease);
        assert_eq!(second - first, chrono::TimeDelta::microseconds(1));
        let later = handing.until(at + chrono::TimeDelta::seconds(1), lease);
        assert_eq!(later.timestamp(), 1_790_000_031);
    }

    /// Counts the steps it is asked to run and changes nothing.
    struct Counting(AtomicUsize);

    #[async_trait::async_trait]
    impl Engine for Counting {
        async fn handle(&self, input: StepInput<'_>) -> StepOutput {
            self.0.fetch_add(1, Ordering::SeqCst);
            StepOutput::unchanged(&input.conversation.state)
        }
    }

    /// Handed-over work that waited past half its lease for a slot renews the lease before
    /// its step runs, and runs only while the lease is still this process's: work a claim
    /// took once the lease ran out is not run here a second time.
    #[tokio::test]
    async fn handed_work_that_waited_renews_its_lease_or_is_left_to_its_new_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::testing::sqlite_in(dir.path()).await;
        let engine = Arc::new(Counting(AtomicUsize::new(0)));
        let lease = Duration::from_secs(30);
        let inbox = Inbox {
            store: store.clone(),
            engine: engine.clone(),
            clock: Arc::new(crate::domain::clock::SystemClock),
            window: WindowPolicy::default(),
            owner: "me".into(),
            concurrency: 1,
            lease,
            poll_interval: Duration::from_secs(1),
            wake: Wakeups::default(),
            hand_to_outbox: None,
            pricer: Arc::new(Pricer {
                card: RateCard::builtin(),
                templates: Default::default(),
            }),
            handing: Handing::new(Default::default()),
            tracer: Default::default(),
        };
        let now = chrono::Utc::now();
        let claim = InboxClaim {
            owner: "me".into(),
            now,
            lease,
            limit: 1,
            events: 32,
        };
        let waited = |work: ClaimedWork| Leased {
            item: work,
            renew_after: Instant::now().checked_sub(Duration::from_secs(1)),
        };
        let steps = || engine.0.load(Ordering::SeqCst);

        // Still held by this process: renewed, run, given back.
        let (_, mut handed) = store
            .ingest_and_claim(&text_now("wamid.1", 1), Some(&claim))
            .await
            .unwrap();
        assert_eq!(handed.len(), 1);
        inbox.process(waited(handed.pop().unwrap())).await;
        assert_eq!(steps(), 1);
        let later = now + chrono::TimeDelta::seconds(60);
        assert!(store
            .claim_work("x", later, lease, 10, 32)
            .await
            .unwrap()
            .is_empty());

        // Its lease ran out and another process claimed it: not run here.
        let (_, mut handed) = store
            .ingest_and_claim(&text_now("wamid.2", 2), Some(&claim))
            .await
            .unwrap();
        let theirs = store
            .claim_work("other", now + chrono::TimeDelta::seconds(31), lease, 10, 32)
            .await
            .unwrap();
        assert_eq!(theirs.len(), 1);
        inbox.process(waited(handed.pop().unwrap())).await;
        assert_eq!(steps(), 1, "a step ran on a lease another process holds");
    }
}
