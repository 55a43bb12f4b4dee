//! Group commit for webhooks: every request's items are committed together with those of
//! the other requests waiting at that moment, in a single transaction, and each request is
//! answered only after its items are durable. Idle, a request commits at once; under load,
//! requests that arrive during a commit share the next one.
//!
//! Where the store gathers concurrent writes into one commit itself (SQLite's writer
//! thread), each request goes to it directly. Otherwise (PostgreSQL) one task gathers the
//! requests waiting and makes one store call of them. Going through that task cost SQLite
//! twice: a request that came while a call was in flight waited for that call's answer to
//! wake the task before its own call could start, on a thread the workers may be keeping
//! busy; with 1,000 conversations waiting on a model, that wait was the acknowledgement's
//! tail (BENCHMARKS.md, issue 17).
//!
//! When the database is down or slow, requests are not held open: a request waits at most
//! `webhooks.ack_timeout`, and at most `webhooks.max_waiting` requests wait at all (beyond
//! that, an answer at once), so the provider hears 503 quickly and retries, and memory stays
//! bounded whatever the outage's length. Once the database has refused to store (down,
//! disk full), one request at a time tries it and the others are answered 503 at once
//! ([`Breaker`]): at hundreds of webhooks a second, requests that each waited for a database
//! that was gone held every connection the server allows, and new ones were closed instead
//! of answered. The first request stored clears it.

use crate::metrics as m;
use crate::store::{
    ClaimedWork, DynStore, InboxClaim, IngestItem, IngestOutcome, NewDownload, StoreError,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::Wakeups;

type Reply = oneshot::Sender<Result<Vec<IngestOutcome>, Arc<StoreError>>>;

#[derive(Clone)]
pub struct Ingestor {
    route: Route,
    /// A request not stored within this time is answered "unavailable" (503).
    ack_timeout: Duration,
    health: WriteHealth,
    breaker: Breaker,
}

/// How long a refusal to store keeps the [`Breaker`] open without another one.
const TROUBLE_FRESH: Duration = Duration::from_secs(10);

/// While the database refuses to store, one request at a time tries it; the others are
/// refused at once. Closed again by the first request stored, or [`TROUBLE_FRESH`] after
/// the last refusal.
#[derive(Clone, Default)]
struct Breaker(Arc<BreakerState>);

#[derive(Default)]
struct BreakerState {
    /// When storing last failed (ms since the epoch), 0 once a request was stored.
    trouble_ms: std::sync::atomic::AtomicI64,
    /// A request is trying the database now.
    probing: std::sync::atomic::AtomicBool,
}

/// The request trying the database while the breaker is open.
struct Probe(Breaker);

impl Drop for Probe {
    fn drop(&mut self) {
        (self.0)
            .0
            .probing
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Breaker {
    fn failed(&self) {
        let now = chrono::Utc::now().timestamp_millis();
        self.0
            .trouble_ms
            .store(now, std::sync::atomic::Ordering::SeqCst);
    }

    fn stored(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        if self.0.trouble_ms.load(SeqCst) != 0 {
            self.0.trouble_ms.store(0, SeqCst);
        }
    }

    /// `Ok(None)`: closed, go on. `Ok(Some)`: open, and this request is the one trying.
    /// `Err`: open, another request is trying; refuse this one now.
    fn admit(&self, now_ms: i64) -> Result<Option<Probe>, ()> {
        use std::sync::atomic::Ordering::SeqCst;
        let since = self.0.trouble_ms.load(SeqCst);
        if since == 0 || now_ms - since >= TROUBLE_FRESH.as_millis() as i64 {
            return Ok(None);
        }
        if self.0.probing.swap(true, SeqCst) {
            return Err(());
        }
        Ok(Some(Probe(self.clone())))
    }
}

/// Whether the database is refusing to store webhooks right now (down, disk full,
/// read-only), and since when: a read that still works (`/readyz`'s ping) does not say.
/// A failure counts for [`WRITE_FAILURE_FRESH`]: an instance taken out of service for it
/// receives no webhook that could clear it, so it clears by itself once failures stop.
#[derive(Clone, Default, Debug)]
pub struct WriteHealth(Arc<[std::sync::atomic::AtomicI64; 2]>);

/// How long a failed store keeps `/readyz` red without another failure.
pub const WRITE_FAILURE_FRESH: Duration = Duration::from_secs(60);

impl WriteHealth {
    fn failed(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let now = chrono::Utc::now().timestamp_millis();
        let [since, last] = &*self.0;
        let before = last.swap(now, Relaxed);
        // A new spell of failures, or the first: it starts now.
        if since.load(Relaxed) == 0 || now - before >= WRITE_FAILURE_FRESH.as_millis() as i64 {
            since.store(now, Relaxed);
        }
    }

    fn stored(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let [since, _] = &*self.0;
        if since.load(Relaxed) != 0 {
            since.store(0, Relaxed);
        }
    }

    /// Since when storing webhooks has failed, if the last attempt failed within
    /// [`WRITE_FAILURE_FRESH`].
    pub fn failing_since(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.failing_since_at(chrono::Utc::now().timestamp_millis())
    }

    fn failing_since_at(&self, now_ms: i64) -> Option<chrono::DateTime<chrono::Utc>> {
        use std::sync::atomic::Ordering::Relaxed;
        let [since, last] = &*self.0;
        let (since, last) = (since.load(Relaxed), last.load(Relaxed));
        let fresh = now_ms - last < WRITE_FAILURE_FRESH.as_millis() as i64;
        match since {
            0 => None,
            _ if !fresh => None,
            ms => chrono::DateTime::from_timestamp_millis(ms),
        }
    }
}

#[derive(Clone)]
enum Route {
    /// Straight to a store that shares commits between concurrent calls itself; `slots`
    /// bounds the requests waiting for it.
    Direct {
        store: DynStore,
        /// One `Arc` for the six inside: cloned for every webhook.
        wake: Arc<Wakeups>,
        slots: Arc<Semaphore>,
        health: WriteHealth,
    },
    /// Through the task that gathers the requests waiting into one store call.
    Gathered(mpsc::Sender<(Vec<IngestItem>, Reply)>),
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("storing the webhook failed: {0}")]
    Store(Arc<StoreError>),
    /// The database did not store it in time, or too many requests already wait for it.
    /// The items may still be stored later: a retry by the provider is a duplicate, and
    /// duplicates are recognised by their provider message id.
    #[error("the database is not keeping up ({0}); retry later")]
    Overloaded(&'static str),
    #[error("Parley is shutting down")]
    ShuttingDown,
}

/// At most this many items in one transaction.
const MAX_BATCH_ITEMS: usize = 512;

impl Ingestor {
    /// At most `max_waiting` requests queue for the database; each waits `ack_timeout`.
    pub fn spawn(
        store: DynStore,
        wake: Wakeups,
        max_waiting: usize,
        ack_timeout: Duration,
    ) -> Self {
        Self::spawn_on(
            &tokio::runtime::Handle::current(),
            store,
            wake,
            max_waiting,
            ack_timeout,
        )
    }

    /// `spawn`, its gathering task (if the store needs one) on the runtime `on`.
    pub fn spawn_on(
        on: &tokio::runtime::Handle,
        store: DynStore,
        wake: Wakeups,
        max_waiting: usize,
        ack_timeout: Duration,
    ) -> Self {
        let health = WriteHealth::default();
        let route = if store.shares_commits() {
            Route::Direct {
                store,
                wake: Arc::new(wake),
                slots: Arc::new(Semaphore::new(max_waiting.max(1))),
                health: health.clone(),
            }
        } else {
            let (tx, rx) = mpsc::channel(max_waiting.max(1));
            on.spawn(gather(store, wake, rx, health.clone()));
            Route::Gathered(tx)
        };
        Self {
            route,
            ack_timeout,
            health,
            breaker: Breaker::default(),
        }
    }

    /// Whether storing webhooks fails now, for `/readyz`.
    pub fn write_health(&self) -> &WriteHealth {
        &self.health
    }

    pub async fn ingest(&self, items: Vec<IngestItem>) -> Result<Vec<IngestOutcome>, IngestError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let Ok(_probe) = self.breaker.admit(chrono::Utc::now().timestamp_millis()) else {
            metrics::counter!(m::WEBHOOKS_UNAVAILABLE, "reason" => "failing").increment(1);
            return Err(IngestError::Overloaded(
                "the database is failing and another request is trying it",
            ));
        };
        let result = self.store(items).await;
        // Only a database that refused to store opens the breaker: one that is slow
        // (a request not stored in time, too many waiting) is busy, not down, and its
        // waiting line is bounded already; refusing everyone else then would turn a
        // moment of overload into seconds of 503s.
        match &result {
            Ok(_) => self.breaker.stored(),
            Err(IngestError::Store(_)) => self.breaker.failed(),
            Err(IngestError::Overloaded(_) | IngestError::ShuttingDown) => {}
        }
        result
    }

    async fn store(&self, items: Vec<IngestItem>) -> Result<Vec<IngestOutcome>, IngestError> {
        match &self.route {
            Route::Direct {
                store,
                wake,
                slots,
                health,
            } => {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    return Err(queue_full());
                };
                // A task of its own, so that a request answered "not in time" still wakes
                // the workers for what it stores later, and holds its slot until then.
                let (store, wake, health) = (store.clone(), wake.clone(), health.clone());
                let storing = tokio::spawn(async move {
                    let _slot = slot;
                    // The conversations it gives work are claimed for this process's inbox
                    // in the same commit, where it has room, and handed to it.
                    let claim = wake.ingest_claims.claim();
                    match store.ingest_and_claim(&items, claim.as_ref()).await {
                        Ok((outcomes, handed)) => {
                            health.stored();
                            let handed_ids = hand(&wake, claim.as_ref(), handed);
                            wake_for(&wake, &items, &outcomes, &handed_ids);
                            Ok(outcomes)
                        }
                        Err(e) => {
                            store_failed(&health, &e, items.len());
                            Err(e)
                        }
                    }
                });
                match tokio::time::timeout(self.ack_timeout, storing).await {
                    Err(_) => Err(timed_out()),
                    Ok(Err(_)) => Err(IngestError::ShuttingDown),
                    Ok(Ok(stored)) => stored.map_err(|e| IngestError::Store(Arc::new(e))),
                }
            }
            Route::Gathered(tx) => {
                let (reply, answer) = oneshot::channel();
                tx.try_send((items, reply)).map_err(|e| match e {
                    mpsc::error::TrySendError::Full(_) => queue_full(),
                    mpsc::error::TrySendError::Closed(_) => IngestError::ShuttingDown,
                })?;
                tokio::time::timeout(self.ack_timeout, answer)
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(|_| IngestError::ShuttingDown)?
                    .map_err(IngestError::Store)
            }
        }
    }
}

fn queue_full() -> IngestError {
    metrics::counter!(m::WEBHOOKS_UNAVAILABLE, "reason" => "queue_full").increment(1);
    IngestError::Overloaded("too many webhooks wait for the database")
}

/// The database refused to store a request's items (down, full, read-only): counted with
/// the other 503s.
fn store_failed(health: &WriteHealth, e: &crate::store::StoreError, items: usize) {
    health.failed();
    metrics::counter!(m::WEBHOOKS_UNAVAILABLE, "reason" => "store_error").increment(1);
    // Once per 30 s at most: an outage fails every webhook, and the metric counts each.
    crate::metrics::logs::log_every!(error, error = %e, items, "storing webhooks failed; the provider will retry");
}

fn timed_out() -> IngestError {
    metrics::counter!(m::WEBHOOKS_UNAVAILABLE, "reason" => "timeout").increment(1);
    IngestError::Overloaded("not stored in time")
}

/// Whether any item is a message with media to download.
fn has_media(items: &[IngestItem]) -> bool {
    items.iter().any(|item| {
        matches!(item, IngestItem::Message { message, .. } if NewDownload::of(message).is_some())
    })
}

/// Hands what an ingest claimed to the inbox; the ids of the conversations handed.
fn hand(wake: &Wakeups, claim: Option<&InboxClaim>, handed: Vec<ClaimedWork>) -> Vec<i64> {
    let ids = handed.iter().map(|w| w.conversation_id).collect();
    if let Some(claim) = claim {
        wake.ingest_claims.hand(claim, handed);
    }
    ids
}

/// Counts what was stored and wakes the workers it concerns: the media downloads, the
/// outbox for a template fallback a status queued, the inbox for stored messages in
/// conversations not `handed` to it already. `outcomes` are `items`', one each, in order.
fn wake_for(wake: &Wakeups, items: &[IngestItem], outcomes: &[IngestOutcome], handed: &[i64]) {
    if has_media(items) {
        wake.media.notify_one();
    }
    let mut new_work = false;
    for (item, o) in items.iter().zip(outcomes) {
        // A failure the provider reports later, in a status (most of them: 131026,
        // 131049, 63016, 30008), counts like one its answer gave at once.
        if let (
            IngestOutcome::StatusApplied {
                status: crate::domain::DeliveryStatus::Failed,
                fallback_id,
                ..
            },
            IngestItem::Status { status, .. },
        ) = (o, item)
        {
            let code = status
                .error
                .as_ref()
                .map_or_else(|| "none".to_string(), |e| e.code.to_string());
            metrics::counter!(m::MESSAGES_FAILED, "code" => code).increment(1);
            if fallback_id.is_some() {
                metrics::counter!(m::MESSAGES_CONVERTED).increment(1);
            }
        }
        match o {
            IngestOutcome::Stored {
                conversation_id, ..
            } => {
                let left = !handed.contains(conversation_id);
                let outcome = if left { "left" } else { "handed" };
                metrics::counter!(m::INBOX_HANDOFFS, "outcome" => outcome).increment(1);
                new_work |= left;
            }
            IngestOutcome::Duplicate => metrics::counter!(m::WEBHOOKS_DUPLICATE).increment(1),
            IngestOutcome::StatusApplied { fallback_id, .. } => {
                metrics::counter!(m::STATUSES_APPLIED).increment(1);
                if fallback_id.is_some() {
                    wake.outbox.notify_one();
                }
            }
            IngestOutcome::IdentityApplied { contact_id } => {
                let outcome = if contact_id.is_some() {
                    "moved"
                } else {
                    "unknown"
                };
                metrics::counter!(m::CONTACT_IDENTITY_CHANGES, "outcome" => outcome).increment(1);
            }
            _ => {}
        }
    }
    if new_work {
        wake.inbox.notify_one();
    }
}

/// The gathering task: takes every request waiting, stores their items in one call, then
/// answers each.
async fn gather(
    store: DynStore,
    wake: Wakeups,
    mut rx: mpsc::Receiver<(Vec<IngestItem>, Reply)>,
    health: WriteHealth,
) {
    let mut pending: Vec<(Vec<IngestItem>, Reply)> = Vec::new();
    // Runs until every `Ingestor` handle is gone; items already sent are drained first.
    while let Some(first) = rx.recv().await {
        let mut count = first.0.len();
        pending.push(first);
        while count < MAX_BATCH_ITEMS {
            match rx.try_recv() {
                Ok(next) => {
                    count += next.0.len();
                    pending.push(next);
                }
                Err(_) => break,
            }
        }
        let items: Vec<IngestItem> = pending
            .iter()
            .flat_map(|(items, _)| items.iter().cloned())
            .collect();
        // As on the direct route: the conversations it gives work are claimed for this
        // process's inbox in the same statement, where it has room, and handed to it.
        let claim = wake.ingest_claims.claim();
        match store.ingest_and_claim(&items, claim.as_ref()).await {
            Ok((outcomes, handed)) => {
                health.stored();
                let handed_ids = hand(&wake, claim.as_ref(), handed);
                wake_for(&wake, &items, &outcomes, &handed_ids);
                let mut outcomes = outcomes.into_iter();
                for (items, reply) in pending.drain(..) {
                    let mine: Vec<IngestOutcome> = outcomes.by_ref().take(items.len()).collect();
                    let _ = reply.send(Ok(mine));
                }
            }
            Err(e) => {
                store_failed(&health, &e, items.len());
                let e = Arc::new(e);
                for (_, reply) in pending.drain(..) {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full disk fails every webhook: the log says so once per 30 s, not once per
    /// request (an audit saw 300 lines in a second), and the metric counts each.
    #[test]
    fn an_outage_logs_its_refused_webhooks_once() {
        let health = WriteHealth::default();
        let e = crate::store::StoreError::Commit("database or disk is full".into());
        let text = crate::metrics::logs::logs_of(|| {
            for _ in 0..100 {
                store_failed(&health, &e, 1);
            }
        });
        assert_eq!(text.matches("storing webhooks failed").count(), 1, "{text}");
        assert!(health.failing_since().is_some());
    }

    /// Once storing failed, one request at a time tries the database and the others are
    /// refused at once; the first stored closes the breaker, and it closes by itself when
    /// failures stop.
    #[test]
    fn a_failing_database_is_tried_by_one_request_at_a_time() {
        let breaker = Breaker::default();
        let now = chrono::Utc::now().timestamp_millis();
        assert!(matches!(breaker.admit(now), Ok(None)), "closed at first");
        breaker.failed();
        let probe = breaker.admit(now).expect("the first request tries");
        assert!(probe.is_some());
        assert!(
            breaker.admit(now).is_err(),
            "a second one is refused at once"
        );
        drop(probe);
        let again = breaker
            .admit(now)
            .expect("the next one tries once the probe ended");
        breaker.stored();
        drop(again);
        assert!(matches!(breaker.admit(now), Ok(None)), "closed by a store");
        breaker.failed();
        let later = now + TROUBLE_FRESH.as_millis() as i64 + 1_000;
        assert!(
            matches!(breaker.admit(later), Ok(None)),
            "closed when failures stop"
        );
    }

    /// A failed store turns readiness red until one succeeds, or until failures have
    /// stopped for a while (an instance out of service gets no webhook to clear it).
    #[test]
    fn write_health_is_red_from_a_failure_until_a_store_or_a_quiet_minute() {
        let health = WriteHealth::default();
        assert_eq!(health.failing_since(), None);
        health.failed();
        let since = health.failing_since().expect("red after a failure");
        health.failed();
        assert_eq!(
            health.failing_since(),
            Some(since),
            "the spell started at the first"
        );
        health.stored();
        assert_eq!(health.failing_since(), None);
        health.failed();
        let later = chrono::Utc::now().timestamp_millis() + 61_000;
        assert_eq!(
            health.failing_since_at(later),
            None,
            "stale after a quiet minute"
        );
    }
    use crate::store::testing::fixtures::text_now;
    use crate::store::testing::{on_postgres, on_sqlite, sqlite_in};

    /// On SQLite each request goes straight to the writer, with the same bounds as through
    /// the gathering task: while another process holds the database, at most `max_waiting`
    /// requests wait (the next is refused at once), each at most `ack_timeout`; what a
    /// timed-out request stores later still wakes the inbox, and once the database is free
    /// again requests are stored.
    #[tokio::test]
    async fn requests_straight_to_the_store_are_bounded_and_time_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite_in(dir.path()).await;
        assert!(store.shares_commits());
        let wake = Wakeups::default();
        let ingestor = Ingestor::spawn(store, wake.clone(), 1, Duration::from_millis(300));
        let blocker = rusqlite::Connection::open(dir.path().join("parley.db")).unwrap();
        blocker.execute_batch("begin immediate").unwrap();

        let waiting = tokio::spawn({
            let ingestor = ingestor.clone();
            async move { ingestor.ingest(text_now("wamid.1", 1)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = ingestor.ingest(text_now("wamid.2", 1)).await;
        assert!(
            matches!(refused, Err(IngestError::Overloaded(why)) if why.contains("too many")),
            "{refused:?}"
        );
        let timed_out = waiting.await.unwrap();
        assert!(
            matches!(timed_out, Err(IngestError::Overloaded(why)) if why.contains("in time")),
            "{timed_out:?}"
        );

        blocker.execute_batch("rollback").unwrap();
        // The request answered "not in time" is stored once the lock goes, and the inbox
        // hears of it (nothing else could have woken it yet).
        tokio::time::timeout(Duration::from_secs(30), wake.inbox.notified())
            .await
            .expect("the inbox woken for the late commit");
        let stored = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match ingestor.ingest(text_now("wamid.3", 1)).await {
                    Ok(outcomes) => break outcomes,
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        })
        .await
        .expect("stored once the database is free");
        assert!(
            matches!(stored[..], [IngestOutcome::Stored { .. }]),
            "{stored:?}"
        );
    }

    /// With an inbox running in this process, a webhook's conversation is leased to it in
    /// the ingest's own commit and handed over, without waking a claim; once no slot is free
    /// (busy, or kept for handed work waiting), the next one stays in the database and the
    /// inbox is woken to claim it; with no inbox running, nothing is claimed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_ingest_hands_its_conversation_to_the_inbox_while_it_has_room() {
        on_sqlite(hands_its_conversation_to_the_inbox_while_it_has_room).await;
    }

    /// The same through the gathering task, which PostgreSQL's ingests take.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_gathered_ingest_hands_its_conversation_to_the_inbox_while_it_has_room() {
        on_postgres(hands_its_conversation_to_the_inbox_while_it_has_room).await;
    }

    async fn hands_its_conversation_to_the_inbox_while_it_has_room(store: DynStore) {
        let wake = Wakeups::default();
        let lease = Duration::from_secs(30);
        let claims = wake.ingest_claims.clone();
        let slots = Arc::new(Semaphore::new(2));
        claims.open_for(
            "me",
            lease,
            Arc::new(crate::domain::clock::SystemClock),
            slots.clone(),
        );
        let ingestor = Ingestor::spawn(store.clone(), wake.clone(), 8, Duration::from_secs(10));
        let woken = || async {
            tokio::time::timeout(Duration::from_millis(100), wake.inbox.notified())
                .await
                .is_ok()
        };
        let now = chrono::Utc::now;

        ingestor.ingest(text_now("wamid.1", 1)).await.unwrap();
        let handed = claims.take_handed(&store).await;
        assert_eq!(handed.len(), 1);
        assert_eq!(handed[0].events.len(), 1);
        assert!(!woken().await, "a claim was woken for handed work");
        // Leased to this process: nobody claims it.
        assert!(store
            .claim_work("other", now(), lease, 10, 32)
            .await
            .unwrap()
            .is_empty());

        // One slot busy, and handed work waits for the other: no room for more.
        let _busy = slots.clone().try_acquire_owned().unwrap();
        let mut waiting = handed;
        claims.hand_read(&claims.claim().unwrap(), vec![waiting.pop().unwrap()]);
        assert!(claims.claim().is_none());
        ingestor.ingest(text_now("wamid.2", 2)).await.unwrap();
        assert_eq!(claims.take_handed(&store).await.len(), 1);
        assert!(
            woken().await,
            "the inbox not woken for work left to a claim"
        );
        assert_eq!(
            store
                .claim_work("other", now(), lease, 10, 32)
                .await
                .unwrap()
                .len(),
            1
        );

        // No inbox running: no claim.
        claims.close();
        assert!(claims.claim().is_none());
        ingestor.ingest(text_now("wamid.3", 3)).await.unwrap();
        assert!(claims.take_handed(&store).await.is_empty());
        assert!(woken().await);
    }
}
