//! Group commit for webhooks: every request hands its items to one task that commits all
//! items waiting at that moment in a single transaction, then answers each request. Idle,
//! a request commits at once; under load, requests that arrive during a commit share the
//! next one. A request is answered only after its items are durable.
//!
//! When the database is down or slow, requests are not held open: a request waits at most
//! `webhooks.ack_timeout`, and at most `webhooks.max_waiting` requests wait at all (beyond
//! that, an answer at once), so the provider hears 503 quickly and retries, and memory stays
//! bounded whatever the outage's length.

use crate::metrics as m;
use crate::store::{DynStore, IngestItem, IngestOutcome, NewDownload, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use super::Wakeups;

type Reply = oneshot::Sender<Result<Vec<IngestOutcome>, Arc<StoreError>>>;

#[derive(Clone)]
pub struct Ingestor {
    tx: mpsc::Sender<(Vec<IngestItem>, Reply)>,
    /// A request not stored within this time is answered "unavailable" (503).
    ack_timeout: Duration,
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
    ) -> (Self, tokio::task::JoinHandle<()>) {
        Self::spawn_on(
            &tokio::runtime::Handle::current(),
            store,
            wake,
            max_waiting,
            ack_timeout,
        )
    }

    /// `spawn`, its task on the runtime `on`.
    pub fn spawn_on(
        on: &tokio::runtime::Handle,
        store: DynStore,
        wake: Wakeups,
        max_waiting: usize,
        ack_timeout: Duration,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(max_waiting.max(1));
        let handle = on.spawn(run(store, wake, rx));
        (Self { tx, ack_timeout }, handle)
    }

    pub async fn ingest(&self, items: Vec<IngestItem>) -> Result<Vec<IngestOutcome>, IngestError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.tx.try_send((items, reply)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                metrics::counter!(m::WEBHOOKS_UNAVAILABLE, "reason" => "queue_full").increment(1);
                IngestError::Overloaded("too many webhooks wait for the database")
            }
            mpsc::error::TrySendError::Closed(_) => IngestError::ShuttingDown,
        })?;
        match tokio::time::timeout(self.ack_timeout, answer).await {
            Ok(answer) => answer
                .map_err(|_| IngestError::ShuttingDown)?
                .map_err(IngestError::Store),
            Err(_) => {
                metrics::counter!(m::WEBHOOKS_UNAVAILABLE, "reason" => "timeout").increment(1);
                Err(IngestError::Overloaded("not stored in time"))
            }
        }
    }
}

async fn run(store: DynStore, wake: Wakeups, mut rx: mpsc::Receiver<(Vec<IngestItem>, Reply)>) {
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
        let media = items.iter().any(|item| {
            matches!(item, IngestItem::Message { message, .. } if NewDownload::of(message).is_some())
        });
        match store.ingest(&items).await {
            Ok(outcomes) => {
                if media {
                    wake.media.notify_one();
                }
                let mut outcomes = outcomes.into_iter();
                let mut new_work = false;
                for (items, reply) in pending.drain(..) {
                    let mine: Vec<IngestOutcome> = outcomes.by_ref().take(items.len()).collect();
                    for o in &mine {
                        match o {
                            IngestOutcome::Stored { .. } => new_work = true,
                            IngestOutcome::Duplicate => {
                                metrics::counter!(m::WEBHOOKS_DUPLICATE).increment(1)
                            }
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
                                metrics::counter!(m::CONTACT_IDENTITY_CHANGES, "outcome" => outcome)
                                    .increment(1);
                            }
                            _ => {}
                        }
                    }
                    let _ = reply.send(Ok(mine));
                }
                if new_work {
                    wake.inbox.notify_one();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, items = items.len(), "storing webhooks failed; the provider will retry");
                let e = Arc::new(e);
                for (_, reply) in pending.drain(..) {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
