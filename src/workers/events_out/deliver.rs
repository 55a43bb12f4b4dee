//! What an endpoint is to the delivery worker: a name, which events it hears of, and how one
//! event is delivered to it.

use crate::domain::{OutEvent, OutEventKind};
use async_trait::async_trait;

/// How one delivery attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done (`status`: the HTTP status the endpoint answered, when it was HTTP).
    Delivered { status: Option<u16> },
    /// Try again later, on the retry schedule.
    Retry { status: Option<u16>, error: String },
    /// Never try again on its own (an answer that cannot change): parked at once, replayable.
    Park { status: Option<u16>, error: String },
}

/// One endpoint events are delivered to.
#[async_trait]
pub trait Deliverer: Send + Sync + 'static {
    /// The endpoint's name: its deliveries, log and replays are kept under it.
    fn name(&self) -> &str;
    /// Whether this endpoint hears of an event of this kind and sender.
    fn wants(&self, kind: OutEventKind, sender_id: Option<i64>) -> bool;
    /// Delivers one event; `attempt` counts from 1. Bounded by the endpoint's own timeout.
    async fn deliver(&self, event: &OutEvent, attempt: u32) -> Outcome;
}
