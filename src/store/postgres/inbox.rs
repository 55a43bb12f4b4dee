//! Contacts, conversations and the inbox on PostgreSQL: one worker per conversation through
//! a lease claimed with `skip locked`, events in arrival order, each step one transaction.

use super::outbox::insert_outbound;
use super::rows::{self, json, CONVERSATION_COLUMNS};
use super::PgStore;
use crate::domain::ContactRef;
use crate::store::apply::{apply_patch, lease_until, ContactFields};
use crate::store::{
    Contact, ContactPatch, Conversation, ConversationWork, StepCommit, StoreError, StoreResult,
    StoredEvent,
};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use std::time::Duration;

impl PgStore {
    pub(super) async fn ensure(
        &self,
        sender_id: i64,
        contact: &ContactRef,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Conversation> {
        // The no-op updates make `returning` give existing rows too, and lock them so a
        // concurrent first sight of the same contact waits instead of failing.
        let row = sqlx::query(&format!(
            "with contact as (
                 insert into contacts (key, name, created_at) values ($2, $3, $4)
                 on conflict (key) do update set name = coalesce(excluded.name, contacts.name)
                 returning id
             )
             insert into conversations (sender_id, contact_id, created_at)
             select $1, id, $4 from contact
             on conflict (sender_id, contact_id) do update set sender_id = excluded.sender_id
             returning {CONVERSATION_COLUMNS}"
        ))
        .bind(sender_id)
        .bind(contact.key())
        .bind(name)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        rows::conversation(&row)
    }

    pub(super) async fn conversation_by_id(&self, id: i64) -> StoreResult<Option<Conversation>> {
        let row = sqlx::query(&format!(
            "select {CONVERSATION_COLUMNS} from conversations where id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
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
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rows::conversation).transpose()
    }

    pub(super) async fn contact_by_id(&self, id: i64) -> StoreResult<Option<Contact>> {
        let row = sqlx::query(
            "select id, key, name, attributes, tags, created_at from contacts where id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
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
                          where has_work and (lease_until is null or lease_until <= $3)
                          order by work_since, id
                          limit $4
                          for no key update skip locked)
             returning id, work_since",
        )
        .bind(owner)
        .bind(lease_until(now, lease))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                Ok((
                    row.try_get::<Option<DateTime<Utc>>, _>("work_since")?,
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
        // One round trip: a row per waiting event (or one row with no event), each carrying
        // the conversation and its contact.
        let rows = sqlx::query(
            "select v.id, v.sender_id, v.contact_id, v.last_inbound_at, v.state, v.created_at,
                    c.key, c.name, c.attributes, c.tags, c.created_at as contact_created_at,
                    e.id as event_id, e.payload as event_payload,
                    e.received_at as event_received_at
             from conversations v
             join contacts c on c.id = v.contact_id
             left join lateral (
                 select id, payload, received_at from conversation_events
                 where conversation_id = v.id and processed_at is null
                 order by id
                 limit $2
             ) e on true
             where v.id = $1
             order by e.id",
        )
        .bind(conversation_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let first = rows.first().ok_or(StoreError::NotFound {
            what: "conversation",
            id: conversation_id,
        })?;
        let conversation = rows::conversation(first)?;
        let contact = rows::contact(first, "contact_id", "contact_created_at")?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let Some(id) = row.try_get::<Option<i64>, _>("event_id")? else {
                continue;
            };
            events.push(StoredEvent {
                id,
                conversation_id,
                kind: json(row, "event_payload")?,
                received_at: row.try_get("event_received_at")?,
            });
        }
        Ok(ConversationWork {
            conversation,
            contact,
            events,
        })
    }

    pub(super) async fn commit(&self, step: &StepCommit) -> StoreResult<Vec<i64>> {
        if step.cancel_timers.is_empty() && step.timers.is_empty() && step.contact_patch.is_none() {
            return self.commit_simple(step).await;
        }
        // Locks are taken in the store-wide order (timers, contacts, conversations, events)
        // so a step never deadlocks with a timer firing or a message arriving. Dropping `tx`
        // on an early return rolls everything back.
        let mut tx = self.pool.begin().await?;
        if !step.cancel_timers.is_empty() {
            sqlx::query("delete from timers where conversation_id = $1 and purpose = any($2)")
                .bind(step.conversation_id)
                .bind(&step.cancel_timers)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(patch) = &step.contact_patch {
            patch_contact(&mut tx, step.conversation_id, patch).await?;
        }

        // The lease check and the event's processed mark in one statement; an event is
        // handled once, since committing it twice would send its replies twice.
        let row = sqlx::query(
            "with conversation as (
                 update conversations set state = $1
                 where id = $2 and lease_owner = $3 and lease_until > $4
                 returning id
             ), event as (
                 update conversation_events e set processed_at = $4
                 from conversation c
                 where e.id = $5 and e.conversation_id = c.id and e.processed_at is null
                 returning e.id
             )
             select (select count(*) from event) as marked from conversation",
        )
        .bind(Json(&step.state))
        .bind(step.conversation_id)
        .bind(&step.owner)
        .bind(step.now)
        .bind(step.event_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::LeaseLost {
                what: "conversation",
                id: step.conversation_id,
            });
        };
        if row.try_get::<i64, _>("marked")? == 0 {
            return Err(StoreError::NotFound {
                what: "unprocessed event",
                id: step.event_id,
            });
        }

        if !step.timers.is_empty() {
            let purposes: Vec<&str> = step.timers.iter().map(|t| t.purpose.as_str()).collect();
            let due: Vec<DateTime<Utc>> = step.timers.iter().map(|t| t.due_at).collect();
            let payloads: Vec<Json<&serde_json::Value>> =
                step.timers.iter().map(|t| Json(&t.payload)).collect();
            sqlx::query(
                "insert into timers (conversation_id, purpose, due_at, payload)
                 select $1, purpose, due_at, payload
                 from unnest($2::text[], $3::timestamptz[], $4::jsonb[]) as t(purpose, due_at, payload)",
            )
            .bind(step.conversation_id)
            .bind(purposes)
            .bind(due)
            .bind(payloads)
            .execute(&mut *tx)
            .await?;
        }

        let ids = insert_outbound(&mut tx, &step.outbound, step.now).await?;
        if step.release {
            release_lease(&mut tx, step.conversation_id, &step.owner).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// The common step (new state, replies, perhaps the release; no timers or contact
    /// changes) as ONE statement: its own transaction and one round trip. Every part is
    /// guarded by the conversation's update, which happens only while the lease is held and
    /// the event is unprocessed, so on a refusal nothing at all is written.
    async fn commit_simple(&self, step: &StepCommit) -> StoreResult<Vec<i64>> {
        let m = &step.outbound;
        let senders: Vec<i64> = m.iter().map(|m| m.sender_id).collect();
        let conversations: Vec<i64> = m.iter().map(|m| m.conversation_id).collect();
        let payloads: Vec<_> = m.iter().map(|m| Json(&m.message)).collect();
        let fallbacks: Vec<_> = m.iter().map(|m| Json(&m.fallback)).collect();
        let origins: Vec<&str> = m.iter().map(|m| m.origin.as_str()).collect();
        // The statement's parts all see the snapshot from before it, so the release leaves
        // out this step's event by id instead of relying on its processed mark.
        let row = sqlx::query(
            "with conversation as (
                 update conversations set
                     state = $1,
                     lease_owner = case when $6 then null else lease_owner end,
                     lease_until = case when $6 then null else lease_until end,
                     work_since = case when $6 then
                         (select min(received_at) from conversation_events e
                          where e.conversation_id = $2 and e.processed_at is null and e.id <> $5)
                         else work_since end,
                     has_work = case when $6 then
                         exists (select 1 from conversation_events e
                                 where e.conversation_id = $2 and e.processed_at is null
                                   and e.id <> $5)
                         else has_work end
                 where id = $2 and lease_owner = $3 and lease_until > $4
                   and exists (select 1 from conversation_events e
                               where e.id = $5 and e.conversation_id = $2
                                 and e.processed_at is null)
                 returning id
             ), event as (
                 update conversation_events e set processed_at = $4
                 from conversation c
                 where e.id = $5 and e.conversation_id = c.id
                 returning e.id
             ), outbound as (
                 insert into outbound_messages
                     (sender_id, conversation_id, payload, fallback, origin, status,
                      next_attempt_at, created_at, updated_at)
                 select m.sender_id, m.conversation_id, m.payload, m.fallback, m.origin,
                        'queued', $4, $4, $4
                 from unnest($7::bigint[], $8::bigint[], $9::jsonb[], $10::jsonb[], $11::text[])
                      with ordinality as m(sender_id, conversation_id, payload, fallback, origin, n)
                 where exists (select 1 from conversation)
                 order by m.n
                 returning id
             )
             select (select count(*) from conversation) as committed,
                    coalesce((select array_agg(id order by id) from outbound), '{}') as ids",
        )
        .bind(Json(&step.state))
        .bind(step.conversation_id)
        .bind(&step.owner)
        .bind(step.now)
        .bind(step.event_id)
        .bind(step.release)
        .bind(senders)
        .bind(conversations)
        .bind(payloads)
        .bind(fallbacks)
        .bind(origins)
        .fetch_one(&self.pool)
        .await?;
        if row.try_get::<i64, _>("committed")? == 1 {
            return Ok(row.try_get("ids")?);
        }
        // Refused: say why.
        let held: Option<bool> = sqlx::query_scalar(
            "select lease_owner = $2 and lease_until > $3 from conversations where id = $1",
        )
        .bind(step.conversation_id)
        .bind(&step.owner)
        .bind(step.now)
        .fetch_optional(&self.pool)
        .await?
        .flatten();
        Err(if held == Some(true) {
            StoreError::NotFound {
                what: "unprocessed event",
                id: step.event_id,
            }
        } else {
            StoreError::LeaseLost {
                what: "conversation",
                id: step.conversation_id,
            }
        })
    }

    pub(super) async fn release(&self, conversation_id: i64, owner: &str) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        release_lease(&mut conn, conversation_id, owner).await
    }
}

async fn patch_contact(
    conn: &mut PgConnection,
    conversation_id: i64,
    patch: &ContactPatch,
) -> StoreResult<()> {
    let row = sqlx::query(
        "select c.id, c.name, c.attributes, c.tags from contacts c
         where c.id = (select contact_id from conversations where id = $1)
         for no key update",
    )
    .bind(conversation_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound {
        what: "conversation",
        id: conversation_id,
    })?;
    let contact_id: i64 = row.try_get("id")?;
    let mut fields = ContactFields {
        name: row.try_get("name")?,
        attributes: json(&row, "attributes")?,
        tags: json(&row, "tags")?,
    };
    apply_patch(&mut fields, patch);
    sqlx::query("update contacts set name = $1, attributes = $2, tags = $3 where id = $4")
        .bind(&fields.name)
        .bind(Json(&fields.attributes))
        .bind(Json(&fields.tags))
        .bind(contact_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Gives a conversation back; it keeps `has_work` if events arrived meanwhile.
async fn release_lease(
    conn: &mut sqlx::PgConnection,
    conversation_id: i64,
    owner: &str,
) -> StoreResult<()> {
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
    .execute(conn)
    .await?;
    Ok(())
}
