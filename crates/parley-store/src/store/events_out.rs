//! Events out (issue 57), the delivery side: each endpoint's cursor over the `events_out`
//! log, its deliveries (one row per event and endpoint: pending, delivered or parked),
//! claiming due deliveries under a lease so that a conversation's events reach an endpoint
//! in id order, recording each attempt's outcome, the delivery log and replays.
//!
//! Fan-out (new events → delivery rows) is the delivery worker's job, never the hot path's:
//! it reads past the cursor (`events_after`), keeps the events the endpoint wants, and
//! records them (`fan_out`), idempotently (unique endpoint and event), so several processes
//! may do it at once.

use crate::domain::{Id, OutEvent, OutEventKind};
use crate::store::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// To be tried (now, or at `next_at`).
    Pending,
    /// The endpoint took it.
    Delivered,
    /// No more tries on its own: its schedule ran out or the endpoint said never (410);
    /// a replay brings it back.
    Parked,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Parked => "parked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Parked]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One delivery of one event to one endpoint, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub id: Id,
    pub endpoint: String,
    pub event_id: Id,
    pub kind: OutEventKind,
    pub conversation_id: Option<Id>,
    pub event_at: DateTime<Utc>,
    pub state: DeliveryState,
    /// Attempts made so far (a replay starts again from 0).
    pub attempts: i64,
    /// When it is tried next (pending).
    pub next_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last attempt, when there was an answer.
    pub last_status: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A due delivery this process now holds under its lease.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    pub id: Id,
    /// Attempts made before this one.
    pub attempts: i64,
    pub event: OutEvent,
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryResult {
    Delivered {
        status: Option<i64>,
    },
    /// Failed; tried again at `next_at`.
    Retry {
        status: Option<i64>,
        error: String,
        next_at: DateTime<Utc>,
    },
    /// Failed; parked.
    Park {
        status: Option<i64>,
        error: String,
    },
}

/// Which deliveries the log shows: newest first, those with an id below `before`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryFilter {
    pub endpoint: Option<String>,
    pub state: Option<DeliveryState>,
    pub kind: Option<OutEventKind>,
    pub conversation_id: Option<Id>,
    pub event_id: Option<Id>,
    pub before: Option<Id>,
    pub limit: i64,
}

/// Which deliveries a replay brings back to pending (attempts from 0, due now).
#[derive(Debug, Clone, PartialEq)]
pub enum ReplaySelection {
    /// These deliveries, whatever their state, when they are the endpoint's.
    Ids(Vec<Id>),
    /// The endpoint's parked deliveries of events that happened in `[since, until)`.
    Parked {
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    },
}

#[async_trait]
pub trait EventsOut: Send + Sync {
    /// The endpoint's cursor: the last event id it has fanned out. An endpoint seen for the
    /// first time starts at the newest event recorded so far (it hears of new events only).
    async fn event_cursor(&self, endpoint: &str) -> StoreResult<Id>;

    /// Events with ids above `after`, in id order, at most `limit`.
    async fn events_after(&self, after: Id, limit: i64) -> StoreResult<Vec<OutEvent>>;

    /// Records deliveries of `events` (those the endpoint wants, in id order) to `endpoint`,
    /// due at `now`, and moves its cursor to `through` (never back). A delivery already
    /// recorded stays as it is.
    async fn fan_out(
        &self,
        endpoint: &str,
        events: &[OutEvent],
        through: Id,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Claims at most `limit` of the endpoint's pending deliveries due at `now` and not
    /// leased, for `owner` until `lease_until`. A delivery waits while an earlier event of
    /// its conversation is pending for the same endpoint (leased or not), so each
    /// conversation's events are delivered one after the other, in id order.
    async fn claim_deliveries(
        &self,
        endpoint: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>>;

    /// Records an attempt's result, if `owner` still holds the delivery's lease (`false`
    /// otherwise: another process took it over).
    async fn finish_delivery(
        &self,
        id: Id,
        owner: &str,
        result: &DeliveryResult,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// The delivery log, newest first (`filter.limit` at most 500).
    async fn deliveries(&self, filter: &DeliveryFilter) -> StoreResult<Vec<Delivery>>;

    /// One recorded event.
    async fn out_event(&self, id: Id) -> StoreResult<Option<OutEvent>>;

    /// Brings the selected deliveries of `endpoint` back to pending, due at `now`, with
    /// their attempts from 0 and any lease dropped; how many.
    async fn replay_deliveries(
        &self,
        endpoint: &str,
        selection: &ReplaySelection,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
}

/// At most this many log rows at once.
pub(crate) fn log_limit(limit: i64) -> i64 {
    limit.clamp(1, 500)
}

/// At most this many deliveries claimed at once.
pub(crate) fn claim_limit(limit: i64) -> i64 {
    limit.clamp(1, 1000)
}

/// The columns of a delivery as read by both backends (times decoded by each).
pub(crate) type DeliveryCols<T> = (
    Id,
    String,
    Id,
    String,
    Option<Id>,
    T,
    String,
    i64,
    T,
    Option<T>,
    Option<i64>,
    Option<String>,
    Option<T>,
);

/// The select list of `DeliveryCols`.
pub(crate) const DELIVERY_COLUMNS: &str = "id, endpoint, event_id, kind, conversation_id, event_at, state, attempts, next_at, last_attempt_at, last_status, last_error, delivered_at";

/// A delivery from its columns, with times already decoded.
pub(crate) fn delivery(c: DeliveryCols<DateTime<Utc>>) -> StoreResult<Delivery> {
    let corrupt = |what: &str| {
        crate::store::StoreError::Corrupt(format!("delivery {} has an unknown {what}", c.0))
    };
    Ok(Delivery {
        id: c.0,
        endpoint: c.1,
        event_id: c.2,
        kind: OutEventKind::parse(&c.3).ok_or_else(|| corrupt("kind"))?,
        conversation_id: c.4,
        event_at: c.5,
        state: DeliveryState::parse(&c.6).ok_or_else(|| corrupt("state"))?,
        attempts: c.7,
        next_at: c.8,
        last_attempt_at: c.9,
        last_status: c.10,
        last_error: c.11,
        delivered_at: c.12,
    })
}

/// The columns of `result` to write: (state, status, error, next_at or None, delivered).
pub(crate) fn result_columns(
    result: &DeliveryResult,
) -> (
    &'static str,
    Option<i64>,
    Option<&str>,
    Option<DateTime<Utc>>,
    bool,
) {
    match result {
        DeliveryResult::Delivered { status } => ("delivered", *status, None, None, true),
        DeliveryResult::Retry {
            status,
            error,
            next_at,
        } => ("pending", *status, Some(error), Some(*next_at), false),
        DeliveryResult::Park { status, error } => ("parked", *status, Some(error), None, false),
    }
}

/// The `where` of the delivery log after `endpoint`, `state`, `kind`, `conversation_id`,
/// `event_id`, `before` bound as parameters `p(1)`…`p(6)` (null: any), then the limit `p(7)`.
pub(crate) fn log_query(p: impl Fn(usize) -> String) -> String {
    format!(
        "select {DELIVERY_COLUMNS} from event_deliveries
         where ({a} is null or endpoint = {a})
           and ({b} is null or state = {b})
           and ({c} is null or kind = {c})
           and ({d} is null or conversation_id = {d})
           and ({e} is null or event_id = {e})
           and ({f} is null or id < {f})
         order by id desc limit {g}",
        a = p(1),
        b = p(2),
        c = p(3),
        d = p(4),
        e = p(5),
        f = p(6),
        g = p(7)
    )
}
