//! Background work: the group-commit ingestor, the inbox (runs the engine per
//! conversation), the outbox (delivers with retries, pacing and the window rule), the
//! timer loop and the media downloads (with their retention sweep). Each loop sleeps until
//! woken or until its next deadline and stops on the shared shutdown token.

pub mod broadcasts;
pub mod chatwoot;
pub mod events_out;
pub mod inbox;
pub mod ingest;
pub mod knowledge;
pub mod media;
pub mod outbox;
pub mod owner;
pub mod reload;
pub mod retention;

pub mod retry;
pub mod rollouts;
pub mod scheduler;
pub mod scoring;
pub mod timers;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Wake-ups between workers in one process; other processes are found by polling.
#[derive(Debug, Default, Clone)]
pub struct Wakeups {
    pub inbox: Arc<Notify>,
    pub outbox: Arc<Notify>,
    pub timers: Arc<Notify>,
    /// Inbound media to download.
    pub media: Arc<Notify>,
    /// Messages a step queued and leased for this process's outbox in its own commit.
    pub outbox_handoff: Arc<Handoff<LeasedSend>>,
    /// Conversations a webhook's ingest leased for this process's inbox in its own commit.
    pub ingest_claims: Arc<inbox::IngestClaims>,
}

/// Work leased to this process: claimed by a worker, or handed over by the commit that
/// leased it (a step's first reply to the outbox, a webhook's conversation to the inbox),
/// with when its lease must be renewed before it runs.
#[derive(Debug)]
pub struct Leased<T> {
    pub item: T,
    /// For handed-over work, half its lease from the hand-over: the work started before
    /// this (a provider call takes at most half the send lease, `Outbox::send_lease`; a
    /// step renews its lease every third of it) cannot outlive its lease. Work still
    /// waiting for a free slot then (a step's replies come faster than the outbox sends
    /// them) renews its lease first, and only if nothing took it meanwhile
    /// (`Outbox::renew_outbound_lease`, `Inbox::renew_conversation_lease`); otherwise it
    /// could run twice: from here and from a claim of this or another process once its
    /// lease ran out. Real time, not the `Clock`: a test's clock that jumps a day must not
    /// make work late. Claimed work starts as soon as a slot is free (claims take only
    /// free slots): `None`.
    pub renew_after: Option<std::time::Instant>,
}

/// A message leased to this process's outbox.
pub type LeasedSend = Leased<crate::store::OutboxItem>;

impl<T> Leased<T> {
    pub fn claimed(item: T) -> Self {
        Self {
            item,
            renew_after: None,
        }
    }

    /// `item`, leased for `lease` by the commit that hands it over now.
    pub fn handed(item: T, lease: Duration) -> Self {
        Self {
            item,
            renew_after: std::time::Instant::now().checked_add(lease / 2),
        }
    }

    /// Whether, starting at `now`, its lease must be renewed before it runs.
    pub fn needs_renewal(&self, now: std::time::Instant) -> bool {
        self.renew_after.is_some_and(|at| now > at)
    }
}

/// Work one worker hands another in the same process, already leased to this process in
/// the database: the receiver runs it without a claim of its own. If the process dies, the
/// leases run out and the work is claimed again, as any claimed work would be.
#[derive(Debug)]
pub struct Handoff<T> {
    queue: Mutex<VecDeque<T>>,
    wake: Notify,
}

impl<T> Default for Handoff<T> {
    fn default() -> Self {
        Self {
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
        }
    }
}

impl<T> Handoff<T> {
    pub fn push(&self, item: T) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.push_back(item);
        }
        self.wake.notify_one();
    }

    /// Up to `n` items, oldest first.
    fn take(&self, n: usize) -> Vec<T> {
        match self.queue.lock() {
            Ok(mut queue) => {
                let n = n.min(queue.len());
                queue.drain(..n).collect()
            }
            Err(_) => Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn len(&self) -> usize {
        self.queue.lock().map(|q| q.len()).unwrap_or(0)
    }
}

/// The claim → run loop the workers share: claim up to as many items as there are free
/// `slots` (one permit per item running), run each in its own task, then sleep until
/// woken, a slot frees up, the next poll is due (`poll_interval` after the last claim,
/// however often the sleep was woken meanwhile) or shutdown. Items handed over in-process
/// (`handoff`) run first and need no claim. The database is asked only when there may be
/// work in it: at start, after a wake-up or a poll, and while claims come back full or
/// slots ran out — a slot that frees up alone does not make a claim (a finished item that
/// leaves work behind says so with a wake-up). At shutdown it stops claiming, runs what
/// was handed over, and waits for the items in progress.
pub(crate) async fn claim_loop<T, C, CF, R, RF>(
    slots: Arc<Semaphore>,
    poll_interval: Duration,
    wake: Arc<Notify>,
    handoff: Option<Arc<Handoff<T>>>,
    shutdown: CancellationToken,
    claim: C,
    run: R,
) where
    T: Send + 'static,
    C: Fn(usize) -> CF,
    CF: Future<Output = Vec<T>>,
    R: Fn(T) -> RF,
    RF: Future<Output = ()> + Send + 'static,
{
    let freed = Arc::new(Notify::new());
    let tasks = TaskTracker::new();
    let spawn = |items: Vec<T>, tasks: &TaskTracker| {
        let tasks = tasks.clone();
        let slots = slots.clone();
        let freed = freed.clone();
        // Boxed once here: a work future is several KB (an inbox item's holds the engine's
        // whole run, model call included), and unboxed it was copied at every move and laid
        // out again in each wrapper (the slot's scope, the tracker, the task cell).
        let works: Vec<std::pin::Pin<Box<RF>>> =
            items.into_iter().map(|item| Box::pin(run(item))).collect();
        async move {
            for work in works {
                // Items are taken for free slots only, but a step coming back from a model
                // call (`engine::slot::idle`) may have taken one meanwhile: wait for it.
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                let freed = freed.clone();
                // A step waiting on a language model gives its slot back meanwhile
                // (`engine::slot::idle`).
                let slot = crate::engine::slot::Slot::new(permit, slots.clone(), freed.clone());
                tasks.spawn(async move {
                    slot.scope(work).await;
                    freed.notify_one();
                });
            }
        }
    };
    let handed = |n: usize| handoff.as_ref().map(|h| h.take(n)).unwrap_or_default();
    let handed_left = || handoff.as_ref().is_some_and(|h| !h.is_empty());
    // Whether work may wait in the database.
    let mut look = true;
    // When the next poll is due. A deadline, not a sleep begun afresh at each turn: under
    // load a hand-over or a freed slot ends the wait every millisecond or so, and a sleep
    // restarted each time never ran out, so nothing looked in the database for work
    // nobody announced (a lease that ran out) until a burst sent a wake-up. Each claim
    // also walks the leases that ended since the one before (`claim_update!` on
    // PostgreSQL): seconds apart, one claim read 51,000 rows.
    let mut poll_due = tokio::time::Instant::now() + poll_interval;
    while !shutdown.is_cancelled() {
        let free = slots.available_permits();
        let items = handed(free);
        let room = free - items.len();
        spawn(items, &tasks).await;
        if look && room > 0 {
            let claimed = claim(room).await;
            poll_due = tokio::time::Instant::now() + poll_interval;
            // A full batch: more may wait.
            look = claimed.len() == room;
            spawn(claimed, &tasks).await;
        }
        let free = slots.available_permits();
        if free > 0 && (look || handed_left()) {
            continue;
        }
        let handed_wake = async {
            match &handoff {
                Some(h) => h.wake.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = wake.notified() => look = true,
            _ = handed_wake => {}
            _ = freed.notified() => {}
            _ = tokio::time::sleep_until(poll_due) => {
                look = true;
                poll_due = tokio::time::Instant::now() + poll_interval;
            }
            _ = shutdown.cancelled() => {}
        }
    }
    // Handed-over items are leased to this process already: run them rather than leave
    // them until their leases run out.
    while handed_left() {
        let free = slots.available_permits();
        if free == 0 {
            freed.notified().await;
            continue;
        }
        spawn(handed(free), &tasks).await;
    }
    tasks.close();
    tasks.wait().await;
}

#[cfg(test)]
mod tests {
    use super::LeasedSend;

    /// A loop failing every poll logs one line per `LOG_REPEAT_EVERY`, not one a poll.
    #[test]
    fn a_failing_round_is_logged_once_per_period() {
        let text = crate::metrics::logs::logs_of(|| {
            for round in 0..50 {
                crate::metrics::logs::error_every!(round, "a round failed");
            }
        });
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains("skipped=0") && text.contains("round=0"),
            "{text}"
        );
    }
    use crate::domain::{ContactRef, OutboundContent, OutboundMessage, PhoneNumber};
    use crate::store::OutboxItem;
    use std::time::{Duration, Instant};

    fn item() -> OutboxItem {
        OutboxItem {
            id: 1,
            sender_id: 1,
            conversation_id: 1,
            message: OutboundMessage {
                to: ContactRef::Phone(PhoneNumber::parse("+16315551181").unwrap()),
                content: OutboundContent::Text {
                    body: "hi".into(),
                    preview_url: false,
                },
                trace: None,
            },
            fallback: Default::default(),
            attempts: 0,
            created_at: chrono::Utc::now(),
            last_inbound_at: None,
        }
    }

    /// The poll comes every `poll_interval` even while hand-overs wake the loop far more
    /// often than that: a sleep begun afresh at each wake-up never ran out under load.
    #[tokio::test]
    async fn the_poll_comes_on_time_while_handovers_keep_waking_the_loop() {
        use super::{claim_loop, Handoff};
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use tokio::sync::{Notify, Semaphore};
        use tokio_util::sync::CancellationToken;

        let claims = Arc::new(AtomicUsize::new(0));
        let handoff: Arc<Handoff<u32>> = Arc::new(Handoff::default());
        let shutdown = CancellationToken::new();
        let counted = claims.clone();
        let looping = tokio::spawn(claim_loop(
            Arc::new(Semaphore::new(4)),
            Duration::from_millis(50),
            Arc::new(Notify::new()),
            Some(handoff.clone()),
            shutdown.clone(),
            move |_room| {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Vec::<u32>::new() }
            },
            |_item| async {},
        ));
        // A hand-over every 5 ms for 600 ms: twelve poll intervals.
        for n in 0..120 {
            handoff.push(n);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        shutdown.cancel();
        looping.await.unwrap();
        // The claim at start, then one per poll: at least a few even on a loaded machine
        // (a restarted sleep gave exactly the one at start).
        let made = claims.load(Ordering::SeqCst);
        assert!(made >= 3, "{made} claims in 600 ms with a 50 ms poll");
    }

    /// A handed-over send may start without a renewal until half its lease has gone: the
    /// provider call (at most half the send lease) must end before a claim can take it
    /// again. A claimed send never needs one (it starts as soon as it is claimed).
    #[test]
    fn a_handed_send_renews_its_lease_past_half_of_it() {
        let lease = Duration::from_secs(20);
        let handed = LeasedSend::handed(item(), lease);
        let now = Instant::now();
        assert!(!handed.needs_renewal(now));
        assert!(!handed.needs_renewal(now + Duration::from_secs(9)));
        assert!(handed.needs_renewal(now + Duration::from_secs(11)));
        let claimed = LeasedSend::claimed(item());
        assert!(!claimed.needs_renewal(now + Duration::from_secs(86_400)));
    }
}
