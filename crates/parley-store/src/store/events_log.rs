//! The write side of events out (issue 57): recording `NewOutEvent`s in `events_out`, in the
//! transaction of the change they tell of where there is one (`StepCommit.events`, ingest,
//! outcomes), or on their own (`EventsLog::record_events`).

use async_trait::async_trait;

#[async_trait]
pub trait EventsLog: Send + Sync {}
