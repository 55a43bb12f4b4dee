//! The queries behind the public API's reads on SQLite: spend by message kind, the latest
//! template of a conversation, conversation listings and a conversation's inbound messages.
//! All read from the reader pool; none writes. The listings' SQL and the kind-count decoder
//! are the PostgreSQL store's too (`store::sql`); what differs is the JSON operators and
//! time types.

use super::rows::{contact, conversation, from_text, micros, opt_time, time};
use super::SqliteStore;
use crate::domain::{EventKind, StoredEvent};
use crate::store::sql::{kind_count, CONVERSATIONS_PAGE, CONVERSATION_INBOUND};
use crate::store::{ConversationSummary, Id, KindCount, Reads, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

#[async_trait]
impl Reads for SqliteStore {
    async fn outbound_kind_counts(
        &self,
        sender_id: i64,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Vec<KindCount>> {
        let rows = sqlx::query(
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
        rows.iter().map(kind_count).collect()
    }

    async fn last_template_at(&self, conversation_id: Id) -> StoreResult<Option<DateTime<Utc>>> {
        let at: Option<i64> = sqlx::query_scalar(
            "select max(created_at) from outbound_messages
             where conversation_id = $1 and status not in ('failed', 'skipped')
               and json_extract(payload, '$.content.kind') = 'template'",
        )
        .bind(conversation_id)
        .fetch_one(&self.reader)
        .await?;
        opt_time(at)
    }

    async fn conversations_page(
        &self,
        sender_id: Option<i64>,
        before: Option<Id>,
        limit: i64,
    ) -> StoreResult<Vec<ConversationSummary>> {
        let rows = sqlx::query(CONVERSATIONS_PAGE)
            .bind(sender_id)
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ConversationSummary {
                    conversation: conversation(r)?,
                    contact: contact(r, "contact_id", "contact_created_at")?,
                })
            })
            .collect()
    }

    async fn conversation_inbound(
        &self,
        conversation_id: Id,
        before: Option<Id>,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>> {
        let rows = sqlx::query(CONVERSATION_INBOUND)
            .bind(conversation_id)
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredEvent {
                    id: r.try_get("id")?,
                    conversation_id,
                    kind: from_text::<EventKind>("event", r.try_get("payload")?)?,
                    received_at: time(r.try_get("received_at")?)?,
                })
            })
            .collect()
    }
}
