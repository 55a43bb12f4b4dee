//! `Chatwoot` on SQLite: writes on the writer thread (an agent's message and its send in one
//! savepoint), reads through the reader pool.

use super::rows::{insert_outbound, micros};
use super::SqliteStore;
use crate::domain::Id;
use crate::store::{AgentMessage, Chatwoot, ChatwootLink, Mirrored, NewOutbound, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

#[async_trait]
impl Chatwoot for SqliteStore {
    async fn chatwoot_link(&self, conversation_id: Id) -> StoreResult<Option<ChatwootLink>> {
        let row: Option<(i64, i64, String, i64)> = sqlx::query_as(
            "select conversation_id, contact_id, source_id, chatwoot_conversation_id
             from chatwoot_links where conversation_id = ?1",
        )
        .bind(conversation_id)
        .fetch_optional(&self.reader)
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
            "select conversation_id from chatwoot_links where chatwoot_conversation_id = ?1
             order by created_at desc limit 1",
        )
        .bind(chatwoot_conversation_id)
        .fetch_optional(&self.reader)
        .await?)
    }

    async fn save_chatwoot_link(&self, link: &ChatwootLink, now: DateTime<Utc>) -> StoreResult<()> {
        let l = link.clone();
        let now = micros(now);
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "insert into chatwoot_links (conversation_id, contact_id, source_id,
                         chatwoot_conversation_id, created_at)
                     values (?1, ?2, ?3, ?4, ?5)
                     on conflict (conversation_id) do update set
                         contact_id = excluded.contact_id, source_id = excluded.source_id,
                         chatwoot_conversation_id = excluded.chatwoot_conversation_id,
                         created_at = excluded.created_at",
                )?
                .execute(params![
                    l.conversation_id,
                    l.contact_id,
                    l.source_id,
                    l.chatwoot_conversation_id,
                    now
                ])?;
                Ok(())
            })
            .await
    }

    async fn chatwoot_mirrored(&self, event_id: Id) -> StoreResult<Mirrored> {
        let row: Option<Option<i64>> =
            sqlx::query_scalar("select message_id from chatwoot_mirrored where event_id = ?1")
                .bind(event_id)
                .fetch_optional(&self.reader)
                .await?;
        Ok(mirrored(row))
    }

    async fn chatwoot_mirroring(&self, event_id: Id, now: DateTime<Utc>) -> StoreResult<()> {
        let now = micros(now);
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "insert into chatwoot_mirrored (event_id, message_id, updated_at)
                     values (?1, null, ?2) on conflict (event_id) do nothing",
                )?
                .execute(params![event_id, now])?;
                Ok(())
            })
            .await
    }

    async fn chatwoot_mirrored_as(
        &self,
        event_id: Id,
        message_id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let now = micros(now);
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "insert into chatwoot_mirrored (event_id, message_id, updated_at)
                     values (?1, ?2, ?3)
                     on conflict (event_id) do update set message_id = excluded.message_id,
                         updated_at = excluded.updated_at",
                )?
                .execute(params![event_id, message_id, now])?;
                Ok(())
            })
            .await
    }

    async fn take_chatwoot_message(
        &self,
        chatwoot_message_id: i64,
        conversation_id: Id,
        send: Option<&NewOutbound>,
        now: DateTime<Utc>,
    ) -> StoreResult<AgentMessage> {
        let send = send.cloned();
        let now = micros(now);
        self.writer
            .run(move |conn| {
                let taken: Option<Option<i64>> = conn
                    .prepare_cached(
                        "select outbound_id from chatwoot_agent_messages
                         where chatwoot_message_id = ?1",
                    )?
                    .query_row(params![chatwoot_message_id], |r| r.get(0))
                    .optional()?;
                if let Some(outbound_id) = taken {
                    return Ok(AgentMessage {
                        outbound_id,
                        new: false,
                    });
                }
                let outbound_id = match &send {
                    Some(m) => Some(insert_outbound(conn, m, now)?),
                    None => None,
                };
                conn.prepare_cached(
                    "insert into chatwoot_agent_messages (chatwoot_message_id, conversation_id,
                         outbound_id, created_at)
                     values (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    chatwoot_message_id,
                    conversation_id,
                    outbound_id,
                    now
                ])?;
                Ok(AgentMessage {
                    outbound_id,
                    new: true,
                })
            })
            .await
    }

    async fn sent_for_chatwoot(&self, outbound_id: Id) -> StoreResult<bool> {
        let row: Option<i64> = sqlx::query_scalar(
            "select chatwoot_message_id from chatwoot_agent_messages where outbound_id = ?1",
        )
        .bind(outbound_id)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.is_some())
    }
}

/// A `chatwoot_mirrored` row's `message_id` (`None`: no row) as what became of the event.
fn mirrored(row: Option<Option<i64>>) -> Mirrored {
    match row {
        None => Mirrored::No,
        Some(None) => Mirrored::InDoubt,
        Some(Some(id)) => Mirrored::As(id),
    }
}
