//! Contacts, conversations and the inbox on SQLite: one worker per conversation through a
//! lease, events handled in arrival order, each step committed in one transaction.

use super::outbox::insert_outbound;
use super::rows::{self, from_text, json_text, micros, time, CONVERSATION_COLUMNS};
use super::SqliteStore;
use crate::domain::ContactRef;
use crate::store::apply::{apply_patch, lease_until, ContactFields};
use crate::store::{
    Contact, ContactPatch, Conversation, ConversationWork, EventKind, StepCommit, StoreError,
    StoreResult, StoredEvent,
};
use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};
use std::time::Duration;

/// Finds or creates a contact; an existing name is kept unless a new one is given.
pub(super) async fn upsert_contact(
    conn: &mut SqliteConnection,
    key: &str,
    name: Option<&str>,
    now: i64,
) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "insert into contacts (key, name, created_at) values ($1, $2, $3)
         on conflict (key) do update set name = coalesce(excluded.name, contacts.name)
         returning id",
    )
    .bind(key)
    .bind(name)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

impl SqliteStore {
    pub(super) async fn ensure(
        &self,
        sender_id: i64,
        contact: &ContactRef,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Conversation> {
        let mut tx = self.write().await?;
        let contact_id = upsert_contact(&mut tx, &contact.key(), name, micros(now)).await?;
        // The no-op update makes `returning` give the existing row too.
        let row = sqlx::query(&format!(
            "insert into conversations (sender_id, contact_id, created_at) values ($1, $2, $3)
             on conflict (sender_id, contact_id) do update set sender_id = excluded.sender_id
             returning {CONVERSATION_COLUMNS}"
        ))
        .bind(sender_id)
        .bind(contact_id)
        .bind(micros(now))
        .fetch_one(&mut *tx)
        .await?;
        let conversation = rows::conversation(&row)?;
        tx.commit().await?;
        Ok(conversation)
    }

    pub(super) async fn conversation_by_id(&self, id: i64) -> StoreResult<Option<Conversation>> {
        let row = sqlx::query(&format!(
            "select {CONVERSATION_COLUMNS} from conversations where id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(rows::conversation).transpose()
    }

    pub(super) async fn conversation_by_key(
        &self,
        sender_id: i64,
        key: &str,
    ) -> StoreResult<Option<Conversation>> {
        let row = sqlx::query(
            "select v.id, v.sender_id, v.contact_id, v.last_inbound_at, v.state, v.created_at
             from conversations v join contacts c on c.id = v.contact_id
             where v.sender_id = $1 and c.key = $2",
        )
        .bind(sender_id)
        .bind(key)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(rows::conversation).transpose()
    }

    pub(super) async fn contact_by_id(&self, id: i64) -> StoreResult<Option<Contact>> {
        let row = sqlx::query(
            "select id, key, name, attributes, tags, created_at from contacts where id = $1",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref()
            .map(|row| rows::contact(row, "id", "created_at"))
            .transpose()
    }

    pub(super) async fn claim_inbox(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<i64>> {
        let rows = sqlx::query(
            "update conversations set lease_owner = $1, lease_until = $2
             where id in (select id from conversations
                          where has_work = 1 and (lease_until is null or lease_until <= $3)
                          order by work_since, id
                          limit $4)
             returning id, work_since",
        )
        .bind(owner)
        .bind(micros(lease_until(now, lease)))
        .bind(micros(now))
        .bind(limit)
        .fetch_all(&self.writer)
        .await?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                Ok((
                    row.try_get::<Option<i64>, _>("work_since")?,
                    row.try_get::<i64, _>("id")?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        claimed.sort();
        Ok(claimed.into_iter().map(|(_, id)| id).collect())
    }

    pub(super) async fn work(
        &self,
        conversation_id: i64,
        limit: i64,
    ) -> StoreResult<ConversationWork> {
        let row = sqlx::query(
            "select v.id, v.sender_id, v.contact_id, v.last_inbound_at, v.state, v.created_at,
                    c.key, c.name, c.attributes, c.tags, c.created_at as contact_created_at
             from conversations v join contacts c on c.id = v.contact_id
             where v.id = $1",
        )
        .bind(conversation_id)
        .fetch_optional(&self.reader)
        .await?
        .ok_or(StoreError::NotFound {
            what: "conversation",
            id: conversation_id,
        })?;
        let conversation = rows::conversation(&row)?;
        let contact = rows::contact(&row, "contact_id", "contact_created_at")?;

        let events = sqlx::query(
            "select id, payload, received_at from conversation_events
             where conversation_id = $1 and processed_at is null
             order by id
             limit $2",
        )
        .bind(conversation_id)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|row| {
            Ok(StoredEvent {
                id: row.try_get("id")?,
                conversation_id,
                kind: from_text::<EventKind>("event", row.try_get("payload")?)?,
                received_at: time(row.try_get("received_at")?)?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
        Ok(ConversationWork {
            conversation,
            contact,
            events,
        })
    }

    pub(super) async fn commit(&self, step: &StepCommit) -> StoreResult<Vec<i64>> {
        let now = micros(step.now);
        let mut tx = self.write().await?;
        // Dropping `tx` on any early return rolls everything back.
        let contact_id: Option<i64> = sqlx::query_scalar(
            "update conversations set state = $1
             where id = $2 and lease_owner = $3 and lease_until > $4
             returning contact_id",
        )
        .bind(json_text("conversation state", &step.state)?)
        .bind(step.conversation_id)
        .bind(&step.owner)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(contact_id) = contact_id else {
            return Err(StoreError::LeaseLost {
                what: "conversation",
                id: step.conversation_id,
            });
        };

        // An event is handled once: committing it twice would send its replies twice.
        let marked = sqlx::query(
            "update conversation_events set processed_at = $1
             where id = $2 and conversation_id = $3 and processed_at is null",
        )
        .bind(now)
        .bind(step.event_id)
        .bind(step.conversation_id)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "unprocessed event",
                id: step.event_id,
            });
        }

        if let Some(patch) = &step.contact_patch {
            patch_contact(&mut tx, contact_id, patch).await?;
        }

        // Cancel before creating, so a step may replace a timer with one of the same purpose.
        if !step.cancel_timers.is_empty() {
            sqlx::query(
                "delete from timers
                 where conversation_id = $1 and purpose in (select value from json_each($2))",
            )
            .bind(step.conversation_id)
            .bind(json_text("timer purposes", &step.cancel_timers)?)
            .execute(&mut *tx)
            .await?;
        }
        for timer in &step.timers {
            sqlx::query("insert into timers (conversation_id, purpose, due_at, payload) values ($1, $2, $3, $4)")
                .bind(step.conversation_id)
                .bind(&timer.purpose)
                .bind(micros(timer.due_at))
                .bind(json_text("timer payload", &timer.payload)?)
                .execute(&mut *tx)
                .await?;
        }

        let mut ids = Vec::with_capacity(step.outbound.len());
        for message in &step.outbound {
            ids.push(insert_outbound(&mut tx, message, now).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    pub(super) async fn release(&self, conversation_id: i64, owner: &str) -> StoreResult<()> {
        sqlx::query(
            "update conversations set
                 lease_owner = null,
                 lease_until = null,
                 work_since = (select min(received_at) from conversation_events e
                               where e.conversation_id = conversations.id and e.processed_at is null),
                 has_work = exists (select 1 from conversation_events e
                                    where e.conversation_id = conversations.id and e.processed_at is null)
             where id = $1 and lease_owner = $2",
        )
        .bind(conversation_id)
        .bind(owner)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

async fn patch_contact(
    conn: &mut SqliteConnection,
    contact_id: i64,
    patch: &ContactPatch,
) -> StoreResult<()> {
    let row = sqlx::query("select name, attributes, tags from contacts where id = $1")
        .bind(contact_id)
        .fetch_one(&mut *conn)
        .await?;
    let mut fields = ContactFields {
        name: row.try_get("name")?,
        attributes: from_text("contact attributes", row.try_get("attributes")?)?,
        tags: from_text("contact tags", row.try_get("tags")?)?,
    };
    apply_patch(&mut fields, patch);
    sqlx::query("update contacts set name = $1, attributes = $2, tags = $3 where id = $4")
        .bind(&fields.name)
        .bind(json_text("contact attributes", &fields.attributes)?)
        .bind(json_text("contact tags", &fields.tags)?)
        .bind(contact_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
