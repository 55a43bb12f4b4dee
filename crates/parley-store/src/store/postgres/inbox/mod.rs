//! Contacts, conversations and the inbox on PostgreSQL: one worker per conversation through
//! a lease claimed with `skip locked`, events in arrival order, each step one transaction.

use super::identity;
use super::rows::{insert_outbound, json, CONVERSATION_COLUMNS};
use super::PgStore;
use crate::domain::{Contact, ContactPatch, Conversation};
use crate::domain::{ContactRef, Identities};
use crate::store::apply::{lease_until, ContactFields};
use crate::store::rows::ConversationCols;
use crate::store::shared_reads::for_postgres as shared;
use crate::store::{Committed, ConversationWork, Inbox, StepCommit, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use std::time::Duration;

mod claims;
mod steps;
mod work;

use claims::claim_update;
pub(super) use claims::ExpiredWalk;
use steps::purposes;
pub(super) use steps::{commit_steps, StepJob};
use work::CLAIM_WORK;
pub(super) use work::{gather_work, latest_broadcast_reply, load_work};

#[async_trait]
impl Inbox for PgStore {
    async fn ensure_conversation(
        &self,
        sender_id: i64,
        contact: &ContactRef,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Conversation> {
        // A BSUID may belong to a contact stored under its phone: found, not doubled.
        let key = match contact.user_id() {
            Some(_) => {
                let mut tx = self.pool.begin().await?;
                let linked = identity::link(
                    &mut tx,
                    &Identities::of(contact),
                    None,
                    name,
                    None,
                    now,
                    true,
                )
                .await?;
                tx.commit().await?;
                linked.map(|(_, key)| key).unwrap_or_else(|| contact.key())
            }
            None => contact.key(),
        };
        // The no-op updates make `returning` give existing rows too, and lock them so a
        // concurrent first sight of the same contact waits instead of failing.
        let sql = format!(
            "with contact as (
                 insert into contacts (key, name, created_at, phone, bsuid)
                 values ($2, $3, $4,
                         case when $2 like 'bsuid:%' then null else $2 end,
                         case when $2 like 'bsuid:%' then substr($2, 7) end)
                 on conflict (key) do update set name = coalesce(excluded.name, contacts.name)
                 returning id
             )
             insert into conversations (sender_id, contact_id, created_at)
             select $1, id, $4 from contact
             on conflict (sender_id, contact_id) do update set sender_id = excluded.sender_id
             returning {CONVERSATION_COLUMNS}"
        );
        let query = sqlx::query_as::<_, ConversationCols>(&sql)
            .bind(sender_id)
            .bind(key)
            .bind(name)
            .bind(now);
        if !self.events.on() {
            return Ok(query.fetch_one(&self.pool).await?.into());
        }
        // Events out: a contact created here is told of in the same transaction.
        let mut tx = self.pool.begin().await?;
        let conversation: Conversation = query.fetch_one(&mut *tx).await?.into();
        super::events_log::tell_contact_created(
            &mut tx,
            conversation.contact_id,
            (Some(conversation.id), Some(sender_id)),
            now,
            "api",
        )
        .await?;
        tx.commit().await?;
        Ok(conversation)
    }

    async fn conversation(&self, id: i64) -> StoreResult<Option<Conversation>> {
        shared::conversation(&self.pool, id).await
    }

    async fn find_conversation(
        &self,
        sender_id: i64,
        key: &str,
    ) -> StoreResult<Option<Conversation>> {
        shared::find_conversation(&self.pool, sender_id, key).await
    }

    async fn contact(&self, id: i64) -> StoreResult<Option<Contact>> {
        shared::contact(&self.pool, id).await
    }

    async fn claim_conversations(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<i64>> {
        let since = self.expired_since(now, lease);
        let rows = sqlx::query(claim_update!("$5"))
            .bind(owner)
            .bind(lease_until(now, lease))
            .bind(now)
            .bind(limit)
            .bind(since)
            .fetch_all(&self.leases)
            .await?;
        self.expired_walked(now, since, rows.len() as i64 >= limit);
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

    async fn load_work(&self, conversation_id: i64, limit: i64) -> StoreResult<ConversationWork> {
        self.loads.submit((conversation_id, limit)).await
    }

    /// The claim and the load in one statement (`CLAIM_WORK`), oldest work first.
    async fn claim_work(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
        events: i64,
    ) -> StoreResult<Vec<ConversationWork>> {
        let since = self.expired_since(now, lease);
        let rows = sqlx::query(CLAIM_WORK)
            .bind(owner)
            .bind(lease_until(now, lease))
            .bind(now)
            .bind(limit)
            .bind(events)
            .bind(since)
            .fetch_all(&self.leases)
            .await?;
        let work = gather_work(&rows);
        self.expired_walked(now, since, work.len() as i64 >= limit);
        crate::store::apply::readable_work(work)
    }

    /// A step without contact changes goes through the batch statement, which also hands
    /// its first reply to this process's outbox when that reply is its conversation's next
    /// to leave, and tells whether a released conversation has work left (see
    /// `commit_together`). A step that patches the contact commits on its own and hands
    /// nothing (the outbox claims its replies).
    async fn commit_step_and_claim(
        &self,
        step: &StepCommit,
        outbox_lease: Option<Duration>,
    ) -> StoreResult<Committed> {
        // Steps that record agent questions or scoring (issue 59) are rare and commit on
        // their own, in one transaction with those rows.
        let agent_rows = !step.insights.unanswered.is_empty() || !step.insights.to_score.is_empty();
        if step.contact_patch.is_none() && !agent_rows {
            let hand_until = crate::store::apply::hand_until(step, outbox_lease);
            return self
                .steps
                .submit(StepJob {
                    step: step.clone(),
                    hand_until,
                })
                .await;
        }
        let ids = self.commit_patching_step(step).await?;
        Ok(Committed {
            ids,
            handed: None,
            more_work: step.release,
        })
    }

    async fn release_conversation(&self, conversation_id: i64, owner: &str) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        release_lease(&mut conn, conversation_id, owner).await
    }

    async fn renew_conversation_lease(
        &self,
        conversation_id: i64,
        owner: &str,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "update conversations set lease_until = $1 where id = $2 and lease_owner = $3",
        )
        .bind(until)
        .bind(conversation_id)
        .bind(owner)
        .execute(&self.leases)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl PgStore {
    /// The lease end after which this process's claim at `now` looks for leases that ran
    /// out (`ExpiredWalk`).
    fn expired_since(&self, now: DateTime<Utc>, lease: Duration) -> Option<DateTime<Utc>> {
        self.expired_walk
            .lock()
            .map_or(None, |walk| walk.since(now, lease))
    }

    fn expired_walked(&self, now: DateTime<Utc>, since: Option<DateTime<Utc>>, full: bool) {
        if let Ok(mut walk) = self.expired_walk.lock() {
            walk.walked(now, since, full);
        }
    }

    /// A step that patches its contact: its own transaction, several statements.
    async fn commit_patching_step(&self, step: &StepCommit) -> StoreResult<Vec<i64>> {
        // Locks are taken in the store-wide order (timers, contacts, conversations, events)
        // so a step never deadlocks with a timer firing or a message arriving. Dropping `tx`
        // on an early return rolls everything back.
        let mut tx = self.pool.begin().await?;
        if !step.cancel_timers.is_empty() {
            sqlx::query("delete from timers where conversation_id = $1 and purpose = any($2)")
                .bind(step.conversation_id)
                .bind(purposes(&step.cancel_timers))
                .execute(&mut *tx)
                .await?;
        }
        if let Some(patch) = &step.contact_patch {
            patch_contact(&mut tx, step.conversation_id, patch, step.now).await?;
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
            let (purposes, payloads): (Vec<String>, Vec<Json<serde_json::Value>>) = step
                .timers
                .iter()
                .map(|t| {
                    let (purpose, payload) = t.timer.to_row();
                    (purpose, Json(payload))
                })
                .unzip();
            let due: Vec<DateTime<Utc>> = step.timers.iter().map(|t| t.due_at).collect();
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

        let ids = insert_outbound(&mut tx, &step.outbound, step.queued_at).await?;
        super::insights::add(&mut tx, step.now, &step.insights).await?;
        super::unanswered::add(&mut tx, step.now, &step.insights.unanswered).await?;
        super::scores::add(
            &mut tx,
            step.now,
            step.conversation_id,
            &step.insights.to_score,
        )
        .await?;
        super::events_log::insert_events(&mut tx, &step.events).await?;
        if step.release {
            release_lease(&mut tx, step.conversation_id, &step.owner).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }
}

async fn patch_contact(
    conn: &mut PgConnection,
    conversation_id: i64,
    patch: &ContactPatch,
    now: DateTime<Utc>,
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
    patch.apply_to(&mut fields.name, &mut fields.attributes, &mut fields.tags);
    sqlx::query("update contacts set name = $1, attributes = $2, tags = $3 where id = $4")
        .bind(&fields.name)
        .bind(Json(&fields.attributes))
        .bind(Json(&fields.tags))
        .bind(contact_id)
        .execute(&mut *conn)
        .await?;
    if patch.opts_out() {
        super::outbox::stop_queued_sends(conn, contact_id, now).await?;
    }
    Ok(())
}

/// Gives a conversation back; it keeps `has_work` if events arrived meanwhile.
///
/// Why it also looks at `xmin`: a release computes `has_work` from the events it
/// can see, with the snapshot its statement started with. An ingest (or a timer) that locked
/// the conversation first, added an event and committed while the release waited for the
/// row is invisible to that snapshot: the release would clear `has_work` over the ingest's
/// `true`, and the new event would wait for the next one, unanswered (seen under load: the
/// last of ten messages never answered). After waiting, PostgreSQL re-reads the row itself
/// (`v.xmin` is then the newest version's), while a subquery still reads the snapshot's
/// version: when the two differ, someone changed the conversation meanwhile, so it keeps
/// `has_work` (at worst one claim finds nothing to do). The releasing step of the batch
/// statement (`commit_together`) does the same.
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
                 -- changed meanwhile? (see `release_lease`)
                 or not (conversations.xmin = (select c.xmin from conversations c
                                               where c.id = conversations.id))
         where id = $1 and lease_owner = $2",
    )
    .bind(conversation_id)
    .bind(owner)
    .execute(conn)
    .await?;
    Ok(())
}
