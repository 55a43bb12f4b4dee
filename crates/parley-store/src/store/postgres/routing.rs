//! `Routing` on PostgreSQL: the state's `thread` read by the conversation's key.

use super::PgStore;
use crate::domain::{Id, ThreadState};
use crate::store::routing::{decode, ThreadCount, THREAD_COUNTS};
use crate::store::{Routing, StoreResult};
use async_trait::async_trait;

#[async_trait]
impl Routing for PgStore {
    async fn thread_state(&self, conversation_id: Id) -> StoreResult<Option<ThreadState>> {
        let text: Option<Option<String>> =
            sqlx::query_scalar("select (state -> 'thread')::text from conversations where id = $1")
                .bind(conversation_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(decode(text.flatten()))
    }

    async fn thread_control_queued_after(
        &self,
        conversation_id: Id,
        after: Id,
    ) -> StoreResult<bool> {
        // The head-of-line index (queued rows by conversation and id) finds the few rows.
        Ok(sqlx::query_scalar(
            "select exists(select 1 from outbound_messages
             where conversation_id = $1 and status = 'queued' and id > $2
               and payload -> 'content' ->> 'kind' = 'thread_control')",
        )
        .bind(conversation_id)
        .bind(after)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn thread_counts(&self) -> StoreResult<Vec<ThreadCount>> {
        let rows: Vec<(i64, String, i64)> =
            sqlx::query_as(THREAD_COUNTS).fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|(sender_id, owner, count)| ThreadCount {
                sender_id,
                owner,
                count,
            })
            .collect())
    }
}
