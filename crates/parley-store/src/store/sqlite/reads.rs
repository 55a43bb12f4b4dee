//! The queries behind the public API's reads on SQLite: spend by message kind, the latest
//! template of a conversation, conversation listings and a conversation's inbound messages.
//! All read from the reader pool; none writes. The listings are the PostgreSQL store's too
//! (`store::shared_reads`); what differs is the JSON operators and time types.

use super::rows::micros;
use super::SqliteStore;
use crate::domain::StoredEvent;
use crate::store::rows::{KindCountCols, Stamp};
use crate::store::shared_reads::for_sqlite as shared;
use crate::store::{ConversationSummary, Id, KindCount, Reads, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl Reads for SqliteStore {
    async fn outbound_kind_counts(
        &self,
        sender_id: i64,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Vec<KindCount>> {
        let rows: Vec<KindCountCols> = sqlx::query_as(
            "select json_extract(payload, '$.content.kind') as kind, count(*) as n
             from outbound_messages
             where sender_id = $1 and created_at >= $2 and status not in ('failed', 'skipped')
               and origin <> 'echo'
             group by 1 order by 1",
        )
        .bind(sender_id)
        .bind(since.map(micros).unwrap_or(i64::MIN))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn last_template_at(&self, conversation_id: Id) -> StoreResult<Option<DateTime<Utc>>> {
        let at: Option<Stamp> = sqlx::query_scalar(
            "select max(created_at) from outbound_messages
             where conversation_id = $1 and status not in ('failed', 'skipped')
               and json_extract(payload, '$.content.kind') = 'template'",
        )
        .bind(conversation_id)
        .fetch_one(&self.reader)
        .await?;
        Ok(at.map(Into::into))
    }

    async fn conversations_page(
        &self,
        sender_id: Option<i64>,
        before: Option<Id>,
        limit: i64,
    ) -> StoreResult<Vec<ConversationSummary>> {
        shared::conversations_page(&self.reader, sender_id, before, limit).await
    }

    async fn conversation_inbound(
        &self,
        conversation_id: Id,
        before: Option<Id>,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>> {
        shared::conversation_inbound(&self.reader, conversation_id, before, limit).await
    }

    async fn handoff_conversations(&self, limit: i64) -> StoreResult<Vec<ConversationSummary>> {
        let in_handoff = "json_extract(v.state, '$.handoff') is not null";
        shared::handoff_conversations(&self.reader, in_handoff, limit).await
    }

    async fn outbound_authors(
        &self,
        conversation_id: Id,
        from_id: Id,
        prefix: &str,
        limit: i64,
    ) -> StoreResult<Vec<(Id, String)>> {
        shared::outbound_authors(&self.reader, conversation_id, from_id, prefix, limit).await
    }
}
