//! The queries behind the public API's reads on PostgreSQL: spend by message kind, the
//! latest template of a conversation, conversation listings and a conversation's inbound
//! messages. None writes or locks. The listings are the SQLite store's too
//! (`store::shared_reads`); what differs is the JSON operators and time types.

use super::PgStore;
use crate::domain::StoredEvent;
use crate::store::rows::KindCountCols;
use crate::store::shared_reads::for_postgres as shared;
use crate::store::{ConversationSummary, Id, KindCount, Reads, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl Reads for PgStore {
    async fn outbound_kind_counts(
        &self,
        sender_id: i64,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Vec<KindCount>> {
        let rows: Vec<KindCountCols> = sqlx::query_as(
            "select payload -> 'content' ->> 'kind' as kind, count(*) as n
             from outbound_messages
             where sender_id = $1 and ($2::timestamptz is null or created_at >= $2)
               and status not in ('failed', 'skipped') and origin <> 'echo'
             group by 1 order by 1",
        )
        .bind(sender_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn last_template_at(&self, conversation_id: Id) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(sqlx::query_scalar(
            "select max(created_at) from outbound_messages
             where conversation_id = $1 and status not in ('failed', 'skipped')
               and payload -> 'content' ->> 'kind' = 'template'",
        )
        .bind(conversation_id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn conversations_page(
        &self,
        sender_id: Option<i64>,
        before: Option<Id>,
        limit: i64,
    ) -> StoreResult<Vec<ConversationSummary>> {
        shared::conversations_page(&self.pool, sender_id, before, limit).await
    }

    async fn conversation_inbound(
        &self,
        conversation_id: Id,
        before: Option<Id>,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>> {
        shared::conversation_inbound(&self.pool, conversation_id, before, limit).await
    }

    async fn handoff_conversations(&self, limit: i64) -> StoreResult<Vec<ConversationSummary>> {
        let in_handoff = "v.state ->> 'handoff' is not null";
        shared::handoff_conversations(&self.pool, in_handoff, limit).await
    }

    async fn outbound_authors(
        &self,
        conversation_id: Id,
        from_id: Id,
        prefix: &str,
        limit: i64,
    ) -> StoreResult<Vec<(Id, String)>> {
        shared::outbound_authors(&self.pool, conversation_id, from_id, prefix, limit).await
    }
}
