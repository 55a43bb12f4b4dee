//! The queries behind the public API's reads on PostgreSQL: spend by message kind, the
//! latest template of a conversation, conversation listings and a conversation's inbound
//! messages. None writes or locks.

use super::rows::{contact, conversation, json};
use super::PgStore;
use crate::domain::StoredEvent;
use crate::store::{ConversationSummary, Id, KindCount, StoreResult};
use chrono::{DateTime, Utc};
use sqlx::Row;

impl PgStore {
    pub(super) async fn kind_counts(
        &self,
        sender_id: i64,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Vec<KindCount>> {
        let rows = sqlx::query(
            "select payload -> 'content' ->> 'kind' as kind, count(*) as n
             from outbound_messages
             where sender_id = $1 and ($2::timestamptz is null or created_at >= $2)
               and status not in ('failed', 'skipped')
             group by 1 order by 1",
        )
        .bind(sender_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KindCount {
                    kind: r.try_get::<Option<String>, _>("kind")?.unwrap_or_default(),
                    count: r.try_get("n")?,
                })
            })
            .collect()
    }

    pub(super) async fn latest_template(
        &self,
        conversation_id: Id,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(sqlx::query_scalar(
            "select max(created_at) from outbound_messages
             where conversation_id = $1 and status not in ('failed', 'skipped')
               and payload -> 'content' ->> 'kind' = 'template'",
        )
        .bind(conversation_id)
        .fetch_one(&self.pool)
        .await?)
    }

    pub(super) async fn conversation_list(
        &self,
        sender_id: Option<i64>,
        before: Option<Id>,
        limit: i64,
    ) -> StoreResult<Vec<ConversationSummary>> {
        let rows = sqlx::query(
            "select v.id, v.sender_id, v.contact_id, v.last_inbound_at, v.state, v.created_at,
                    k.key, k.name, k.attributes, k.tags, k.created_at as contact_created_at
             from conversations v join contacts k on k.id = v.contact_id
             where ($1::bigint is null or v.sender_id = $1) and v.id < $2
             order by v.id desc limit $3",
        )
        .bind(sender_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
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

    pub(super) async fn inbound_page(
        &self,
        conversation_id: Id,
        before: Option<Id>,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "select id, payload, received_at from conversation_events
             where conversation_id = $1 and kind = 'message' and id < $2
             order by id desc limit $3",
        )
        .bind(conversation_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredEvent {
                    id: r.try_get("id")?,
                    conversation_id,
                    kind: json(r, "payload")?,
                    received_at: r.try_get("received_at")?,
                })
            })
            .collect()
    }
}
