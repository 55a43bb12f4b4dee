//! The write side of events out (issue 57): recording `NewOutEvent`s in `events_out`, in the
//! transaction of the change they tell of where there is one (`StepCommit.events`, ingest,
//! outcomes, statuses, imports, broadcasts), or on their own (`EventsLog::record_events`).
//!
//! Events are recorded only when someone listens (`events.endpoints` or `chatwoot` set):
//! the daemon says so once at start (`EventsLog::record_events_from_now`). Until then every
//! path that would write an event skips it, and the workers build none, so a Parley without
//! endpoints does no extra work on its hot path.

use crate::domain::{Id, NewOutEvent, OutEvent};
use crate::store::StoreResult;
use async_trait::async_trait;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[async_trait]
pub trait EventsLog: Send + Sync {
    /// From now on, the store records events (someone listens). Called once at start; every
    /// clone of the store follows.
    fn record_events_from_now(&self);

    /// Whether events are recorded: the workers ask before building any.
    fn records_events(&self) -> bool;

    /// Records `events` in one transaction of their own, in order (nothing when events are
    /// not recorded). For changes that have no transaction of their own in the store.
    async fn record_events(&self, events: &[NewOutEvent]) -> StoreResult<()>;

    /// Recorded events with ids above `after`, in id order, at most `limit` (tests, tools).
    async fn logged_events(&self, after: Id, limit: i64) -> StoreResult<Vec<OutEvent>>;
}

/// Whether a store records events; shared by the store's clones.
#[derive(Debug, Clone, Default)]
pub struct Recording(Arc<AtomicBool>);

impl Recording {
    pub fn on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A row of `events_out` as read back: (id, kind, conversation_id, sender_id), its time
/// and its data, as the backend decoded them.
pub(crate) fn logged(
    (id, kind, conversation_id, sender_id): (Id, String, Option<Id>, Option<i64>),
    at: chrono::DateTime<chrono::Utc>,
    data: serde_json::Value,
) -> StoreResult<OutEvent> {
    let kind = crate::domain::OutEventKind::parse(&kind).ok_or_else(|| {
        crate::store::StoreError::Corrupt(format!("event {id} has an unknown kind {kind:?}"))
    })?;
    Ok(OutEvent {
        id,
        kind,
        at,
        conversation_id,
        sender_id,
        data,
    })
}

/// At most this many events are read back at once.
pub(crate) fn bounded(limit: i64) -> i64 {
    limit.clamp(1, 1000)
}
