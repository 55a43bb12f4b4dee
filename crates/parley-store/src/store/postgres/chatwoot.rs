//! `Chatwoot` on PostgreSQL: an agent's message and its send in one transaction, the
//! message's row inserted first so that a second delivery of its webhook waits and then
//! finds it.

use super::rows::insert_outbound;
use super::PgStore;
use crate::domain::Id;
use crate::store::{AgentMessage, Chatwoot, ChatwootLink, Mirrored, NewOutbound, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl Chatwoot for PgStore {
    async fn chatwoot_link(&self, conversation_id: Id) -> StoreResult<Option<ChatwootLink>> {
        let row: Option<(i64, i64, String, i64)> = sqlx::query_as(
            "select conversation_id, contact_id, source_id, chatwoot_conversation_id
             from chatwoot_links where conversation_id = $1",
        )
        .bind(conversation_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(conversation_id, contact_id, source_id, chatwoot_conversation_id)| ChatwootLink {
                conversation_id,
                contact_id,
                source_id,
                chatwoot_conversation_id,
            },
        ))
    }

    async fn chatwoot_conversation(
        &self,
        chatwoot_conversation_id: i64,
    ) -> StoreResult<Option<Id>> {
        Ok(sqlx::query_scalar(
            "select conversation_id from chatwoot_links where chatwoot_conversation_id = $1
             order by created_at desc limit 1",
        )
        .bind(chatwoot_conversation_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn save_chatwoot_link(&self, l: &ChatwootLink, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "insert into chatwoot_links (conversation_id, contact_id, source_id,
                 chatwoot_conversation_id, created_at)
             values ($1, $2, $3, $4, $5)
             on conflict (conversation_id) do update set
                 contact_id = excluded.contact_id, source_id = excluded.source_id,
                 chatwoot_conversation_id = excluded.chatwoot_conversation_id,
                 created_at = excluded.created_at",
        )
        .bind(l.conversation_id)
        .bind(l.contact_id)
        .bind(&l.source_id)
        .bind(l.chatwoot_conversation_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn chatwoot_mirrored(&self, event_id: Id) -> StoreResult<Mirrored> {
        let row: Option<Option<i64>> =
            sqlx::query_scalar("select message_id from chatwoot_mirrored where event_id = $1")
                .bind(event_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            None => Mirrored::No,
            Some(None) => Mirrored::InDoubt,
            Some(Some(id)) => Mirrored::As(id),
        })
    }

    async fn chatwoot_mirroring(&self, event_id: Id, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "insert into chatwoot_mirrored (event_id, message_id, updated_at)
             values ($1, null, $2) on conflict (event_id) do nothing",
        )
        .bind(event_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn chatwoot_mirrored_as(
        &self,
        event_id: Id,
        message_id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "insert into chatwoot_mirrored (event_id, message_id, updated_at)
             values ($1, $2, $3)
             on conflict (event_id) do update set message_id = excluded.message_id,
                 updated_at = excluded.updated_at",
        )
        .bind(event_id)
        .bind(message_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_chatwoot_message(
        &self,
        chatwoot_message_id: i64,
        conversation_id: Id,
        send: Option<&NewOutbound>,
        now: DateTime<Utc>,
    ) -> StoreResult<AgentMessage> {
        let mut tx = self.pool.begin().await?;
        let inserted: Option<i64> = sqlx::query_scalar(
            "insert into chatwoot_agent_messages (chatwoot_message_id, conversation_id,
                 outbound_id, created_at)
             values ($1, $2, null, $3)
             on conflict (chatwoot_message_id) do nothing
             returning chatwoot_message_id",
        )
        .bind(chatwoot_message_id)
        .bind(conversation_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_none() {
            let outbound_id: Option<i64> = sqlx::query_scalar(
                "select outbound_id from chatwoot_agent_messages where chatwoot_message_id = $1",
            )
            .bind(chatwoot_message_id)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(AgentMessage {
                outbound_id,
                new: false,
            });
        }
        let outbound_id = match send {
            Some(m) => insert_outbound(&mut tx, std::slice::from_ref(m), now)
                .await?
                .first()
                .copied(),
            None => None,
        };
        if outbound_id.is_some() {
            sqlx::query(
                "update chatwoot_agent_messages set outbound_id = $2
                 where chatwoot_message_id = $1",
            )
            .bind(chatwoot_message_id)
            .bind(outbound_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(AgentMessage {
            outbound_id,
            new: true,
        })
    }

    async fn sent_for_chatwoot(&self, outbound_id: Id) -> StoreResult<bool> {
        let row: Option<i64> = sqlx::query_scalar(
            "select chatwoot_message_id from chatwoot_agent_messages where outbound_id = $1
             limit 1",
        )
        .bind(outbound_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }
}
