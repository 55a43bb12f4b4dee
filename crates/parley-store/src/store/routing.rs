//! Meta's conversation routing (issue 57): who owns each conversation's thread (Parley,
//! another app, idle). The owner lives in the conversation's state (`state.thread`), kept by
//! the engine and committed with each step (`Inbox::commit_step`); this trait reads it for
//! the outbox's gate (one row by its key, the state's `thread` only) and counts the threads
//! per owner for `/readyz` and the metrics (migration 0026's `thread_owner` column).

use crate::domain::{Id, ThreadState};
use crate::store::StoreResult;
use async_trait::async_trait;

/// Threads of one sender with one owner (`parley`, `app`, `idle`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadCount {
    pub sender_id: i64,
    pub owner: String,
    pub count: i64,
}

#[async_trait]
pub trait Routing: Send + Sync {
    /// The conversation's thread as last recorded; `None` when routing never touched it
    /// (or there is no such conversation).
    async fn thread_state(&self, conversation_id: Id) -> StoreResult<Option<ThreadState>>;

    /// How many conversations each sender has per recorded thread owner (only those
    /// routing touched), by sender then owner.
    async fn thread_counts(&self) -> StoreResult<Vec<ThreadCount>>;

    /// Whether a thread-control call queued after outbound message `after` still waits in
    /// the conversation's line: a message queued before Parley's own `pass` goes out while
    /// the thread is still Parley's (the handoff's message), one after it does not.
    async fn thread_control_queued_after(
        &self,
        conversation_id: Id,
        after: Id,
    ) -> StoreResult<bool>;
}

/// The state's `thread` object as text, read back; a value that does not read (written by
/// a newer version?) counts as no record, logged.
pub(crate) fn decode(text: Option<String>) -> Option<ThreadState> {
    let text = text?;
    match serde_json::from_str::<Option<ThreadState>>(&text) {
        Ok(state) => state,
        Err(e) => {
            tracing::warn!(error = %e, "a conversation's thread owner could not be read; taken as Parley's");
            None
        }
    }
}

pub(crate) const THREAD_COUNTS: &str = "select sender_id, thread_owner, count(*) from conversations
     where thread_owner is not null group by sender_id, thread_owner order by sender_id, thread_owner";
