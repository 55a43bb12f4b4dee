//! The sandbox channel's view of the running Parley: customers' last messages read from
//! the store, delivery statuses fed to the ingest worker as a status webhook's would be.
//! Implements the two traits the channel declares (`channels::sandbox::{LastInbound,
//! StatusSink}`), so the channel never imports the store or the workers.

use crate::channels::sandbox::{LastInbound, StatusSink};
use crate::domain::StatusUpdate;
use crate::store::{DynStore, IngestItem, IngestOutcome};
use crate::workers::ingest::Ingestor;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub struct ParleyLink {
    pub store: DynStore,
    pub ingestor: Ingestor,
}

#[async_trait]
impl LastInbound for ParleyLink {
    async fn last_inbound(
        &self,
        sender_id: i64,
        contact_key: &str,
    ) -> Result<Option<DateTime<Utc>>, String> {
        let conversation = self
            .store
            .find_conversation(sender_id, contact_key)
            .await
            .map_err(|e| e.to_string())?;
        Ok(conversation.and_then(|c| c.last_inbound_at))
    }
}

#[async_trait]
impl StatusSink for ParleyLink {
    async fn deliver_status(
        &self,
        sender_id: i64,
        status: StatusUpdate,
        received_at: DateTime<Utc>,
    ) -> Result<bool, String> {
        let item = IngestItem::Status {
            sender_id,
            status,
            received_at,
        };
        let outcomes = self
            .ingestor
            .ingest(vec![item])
            .await
            .map_err(|e| e.to_string())?;
        Ok(!matches!(
            outcomes.first(),
            Some(IngestOutcome::StatusUnknownMessage)
        ))
    }
}
