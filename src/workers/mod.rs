//! Background work: the group-commit ingestor, the inbox (runs the engine per
//! conversation), the outbox (delivers with retries, pacing and the window rule) and the
//! timer loop. Each loop sleeps until woken or until its next deadline and stops on the
//! shared shutdown token.

pub mod inbox;
pub mod ingest;
pub mod outbox;
pub mod reload;

pub mod retry;
pub mod scheduler;
pub mod timers;

use std::sync::Arc;
use tokio::sync::Notify;

/// Wake-ups between workers in one process; other processes are found by polling.
#[derive(Debug, Default, Clone)]
pub struct Wakeups {
    pub inbox: Arc<Notify>,
    pub outbox: Arc<Notify>,
    pub timers: Arc<Notify>,
}
