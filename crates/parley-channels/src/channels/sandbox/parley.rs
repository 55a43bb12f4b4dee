//! What the sandbox channel needs from the Parley it is attached to, as two small traits the
//! sandbox layer (`src/sandbox/`) implements over the store and the ingest worker. The
//! channel sits below both, so it names only these.

use crate::domain::StatusUpdate;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Where a customer's last message to a sender is looked up (the window rule).
#[async_trait]
pub trait LastInbound: Send + Sync {
    /// When `contact_key` last wrote to `sender_id`, if it ever did; `Err` is the reason the
    /// lookup failed.
    async fn last_inbound(
        &self,
        sender_id: i64,
        contact_key: &str,
    ) -> Result<Option<DateTime<Utc>>, String>;
}

/// Where a simulated delivery status goes: into Parley the way a status webhook's would.
#[async_trait]
pub trait StatusSink: Send + Sync {
    /// Delivers one status; `Ok(false)` when no stored message has its id yet. `Err` (the
    /// reason) stops the remaining statuses of that send.
    async fn deliver_status(
        &self,
        sender_id: i64,
        status: StatusUpdate,
        received_at: DateTime<Utc>,
    ) -> Result<bool, String>;
}
