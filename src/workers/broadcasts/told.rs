//! `broadcast.progress` (events out): a broadcast's figures as the API shows them
//! (`report::progress`), told while its pages are queued, at most every
//! `PROGRESS_EVERY` per broadcast and process (and when it rests at the messaging limit).
//! A snapshot of committed figures, recorded on its own: one lost to a crash is followed by
//! the next; the broadcast's end is told in the transaction that ends it
//! (`broadcast.finished`, by the store).

use super::report;
use crate::domain::out_event_data::Place;
use crate::domain::OutEventKind;
use crate::store::{DynStore, Id, StoreResult};
use chrono::{DateTime, Utc};
use serde_json::{json, Map};
use std::time::{Duration, Instant};

/// The least time between two `broadcast.progress` events of one broadcast.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// When a broadcast's progress was last told, in this run of its pages.
#[derive(Default)]
pub struct Progress {
    last: Option<Instant>,
}

impl Progress {
    /// Tells the broadcast's progress if someone listens and it is time (`now_too`: tell
    /// whatever the time, as when the broadcast rests).
    pub async fn tell(
        &mut self,
        store: &DynStore,
        id: Id,
        now: DateTime<Utc>,
        now_too: bool,
    ) -> StoreResult<()> {
        if !store.records_events() {
            return Ok(());
        }
        if !now_too && self.last.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
            return Ok(());
        }
        self.last = Some(Instant::now());
        let Some(b) = store.broadcast(id).await? else {
            return Ok(());
        };
        let counts = store.broadcast_counts(id).await?;
        let place = Place {
            conversation_id: None,
            sender_id: Some(b.sender_id),
            at: now,
        };
        let mut data = Map::new();
        data.insert("broadcast_id".into(), json!(b.id));
        data.insert("name".into(), json!(b.name));
        data.insert("state".into(), json!(b.state.as_str()));
        data.insert("progress".into(), report::progress(&b, &counts));
        let event = place.event(OutEventKind::BroadcastProgress, data);
        store.record_events(&[event]).await
    }
}
