//! Contacts, conversations and the inbox on PostgreSQL: one worker per conversation through
//! a lease claimed with `skip locked`, events in arrival order, each step one transaction.

use super::identity;
use super::rows::{self, insert_outbound, json, CONVERSATION_COLUMNS};
use super::PgStore;
use crate::domain::{
    Contact, ContactPatch, Conversation, ConversationState, StoredEvent, TimerKind,
};
use crate::domain::{ContactRef, Identities};
use crate::store::apply::{lease_until, ContactFields};
use crate::store::{
    Committed, ConversationWork, Inbox, OutboxItem, StepCommit, StoreError, StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};
use std::time::Duration;

/// Leases to `$1` until `$2` up to `$4` conversations with work whose lease is free at `$3`
/// and returns their `id, work_since` (callers may add columns after a comma): those whose
/// lease ran out first (their worker failed, died or overran; they waited a whole lease
/// already), by its end, then those nobody holds, oldest work first. Shared by
/// `claim_conversations` and `CLAIM_WORK`. Both parts walk `conversations_claimable`
/// (migration 0022), where the free conversations come first, then the held ones in the
/// order their leases end: the first part steps from the first lease to the first still
/// running, the second reads only what it can take.
///
/// The expired part goes first so that every claim walks it, not only those the free work
/// leaves room for, and it walks only the leases that ended after `$since` (null: all of
/// them; `ExpiredWalk` says which). Each claim and release leaves a dead entry there (a
/// lease that ended) until a vacuum removes it; a walk reads each such entry's row once
/// and marks it dead in the index, but still reads the index pages of every marked one in
/// its range. When free work filled every claim for a while (a burst), the claim after it
/// read all the rows those claims had not walked: 51,000 rows and 114 ms, three minutes
/// into 1,000/s with autovacuum off; walking from the first lease every time, each claim
/// read the pages of all leases since the last vacuum (1,600 pages a claim on average over
/// ten minutes, growing). Taking free work first would also starve a lease that ran out
/// behind a steady backlog.
macro_rules! claim_update {
    ($since:literal) => {
        concat!(
        "update conversations set lease_owner = $1, lease_until = $2
         where id in (
             select id from (
                 select id from conversations
                 where has_work
                   and coalesce(lease_until, '-infinity'::timestamptz)
                       > coalesce(", $since, "::timestamptz, '-infinity'::timestamptz)
                   and coalesce(lease_until, '-infinity'::timestamptz) <= $3
                 order by coalesce(lease_until, '-infinity'::timestamptz), work_since, id
                 limit $4
                 for no key update skip locked) expired
             union all
             select id from (
                 select id from conversations
                 where has_work
                   and coalesce(lease_until, '-infinity'::timestamptz) = '-infinity'::timestamptz
                 order by work_since, id
                 limit $4
                 for no key update skip locked) free
             limit $4)
         returning id, work_since")
    };
}

/// Where a process's inbox claims look for leases that ran out (`claim_update!`): from
/// one lease before the previous claim that did not fill its batch (it walked everything
/// up to its own time), and every `FULL_WALK_EVERY` leases from the first lease of all,
/// for one skipped meanwhile (it was locked, or more had run out than claims took). The
/// first claim of a process walks them all.
#[derive(Debug, Default)]
pub(super) struct ExpiredWalk {
    previous: Option<DateTime<Utc>>,
    full: Option<DateTime<Utc>>,
}

/// How many leases apart the walks over every lease come.
const FULL_WALK_EVERY: i32 = 10;

impl ExpiredWalk {
    /// The lease end after which a claim at `now` looks (`None`: from the first).
    pub(super) fn since(&self, now: DateTime<Utc>, lease: Duration) -> Option<DateTime<Utc>> {
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let full_due = match self.full {
            None => true,
            // A clock set back walks everything too.
            Some(full) => {
                now < full
                    || lease
                        .checked_mul(FULL_WALK_EVERY)
                        .is_some_and(|every| now - full >= every)
            }
        };
        if full_due {
            return None;
        }
        self.previous.map(|previous| {
            previous
                .min(now)
                .checked_sub_signed(lease)
                .unwrap_or(previous)
        })
    }

    /// A claim at `now` that looked from `since` succeeded. One that came back with a
    /// `full_batch` may have stopped among the leases that ran out (they come first): the
    /// next looks from where this one did. A lease left behind that is older still (more
    /// ran out at once than claims took within a lease) waits for the next full walk.
    pub(super) fn walked(
        &mut self,
        now: DateTime<Utc>,
        since: Option<DateTime<Utc>>,
        full_batch: bool,
    ) {
        if since.is_none() {
            self.full = Some(now);
        }
        if !full_batch || self.previous.is_none() {
            self.previous = Some(now);
        }
    }
}

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
        let row = sqlx::query(&format!(
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
        ))
        .bind(sender_id)
        .bind(key)
        .bind(name)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        rows::conversation(&row)
    }

    async fn conversation(&self, id: i64) -> StoreResult<Option<Conversation>> {
        let row = sqlx::query(&format!(
            "select {CONVERSATION_COLUMNS} from conversations where id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rows::conversation).transpose()
    }

    async fn find_conversation(
        &self,
        sender_id: i64,
        key: &str,
    ) -> StoreResult<Option<Conversation>> {
        let row = sqlx::query(
            "select v.id, v.sender_id, v.contact_id, v.last_inbound_at, v.state, v.created_at
             from conversations v join contacts c on c.id = v.contact_id
             where v.sender_id = $1
               and (c.key = $2 or c.bsuid = case when $2 like 'bsuid:%' then substr($2, 7) end)",
        )
        .bind(sender_id)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rows::conversation).transpose()
    }

    async fn contact(&self, id: i64) -> StoreResult<Option<Contact>> {
        let row = sqlx::query(
            "select id, key, name, attributes, tags, created_at, bsuid, username
             from contacts where id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(|row| rows::contact(row, "id", "created_at"))
            .transpose()
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
        if step.contact_patch.is_none() {
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

/// A step without contact changes waiting for group commit, with the time until which its
/// first reply is leased to the step's owner if it is its conversation's next to leave
/// (`None`: leave it to the outbox's claims).
#[derive(Debug, Clone)]
pub(super) struct StepJob {
    pub step: StepCommit,
    pub hand_until: Option<DateTime<Utc>>,
}

/// One step without contact changes through the batch statement of `commit_together`,
/// and, when it is refused, why.
async fn commit_one(pool: &PgPool, job: &StepJob) -> StoreResult<Committed> {
    if let Some((_, committed)) = commit_together(pool, std::slice::from_ref(job), &[0])
        .await?
        .pop()
    {
        return Ok(committed);
    }
    let step = &job.step;
    // Refused: say why.
    let held: Option<bool> = sqlx::query_scalar(
        "select lease_owner = $2 and lease_until > $3 from conversations where id = $1",
    )
    .bind(step.conversation_id)
    .bind(&step.owner)
    .bind(step.now)
    .fetch_optional(pool)
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

/// Group commit of steps without contact changes: the whole batch as ONE statement (see
/// `batch.rs` and `commit_together`). A refused step, a conversation that appears twice,
/// and every step of a batch whose statement failed are committed one by one afterwards,
/// which gives each its own answer.
pub(super) async fn commit_steps(pool: PgPool, steps: Vec<StepJob>) -> Vec<StoreResult<Committed>> {
    let pool = &pool;
    if steps.len() == 1 {
        return vec![commit_one(pool, &steps[0]).await];
    }
    let mut seen = std::collections::HashSet::with_capacity(steps.len());
    let together: Vec<usize> = (0..steps.len())
        .filter(|&i| seen.insert(steps[i].step.conversation_id))
        .collect();
    let mut results: Vec<Option<StoreResult<Committed>>> = (0..steps.len()).map(|_| None).collect();
    match commit_together(pool, &steps, &together).await {
        Ok(committed) => {
            for (i, c) in committed {
                results[i] = Some(Ok(c));
            }
        }
        Err(e) => {
            crate::metrics::logs::log_every!(warn, error = %e, steps = together.len(), "a batch of steps failed as a whole; committing them one by one");
        }
    }
    for (i, step) in steps.iter().enumerate() {
        if results[i].is_none() {
            results[i] = Some(commit_one(pool, step).await);
        }
    }
    results
        .into_iter()
        .map(|r| r.expect("every step has a result"))
        .collect()
}

/// Predictions as arrays for `unnest`, one entry a message (null: none).
#[derive(Default)]
struct CostArrays<'a> {
    market: Vec<Option<&'a str>>,
    currency: Vec<Option<&'a str>>,
    category: Vec<Option<&'static str>>,
    kind: Vec<Option<&'static str>>,
    price: Vec<Option<i64>>,
    rm: Vec<Option<i64>>,
    ru: Vec<Option<i64>>,
    ra: Vec<Option<i64>>,
    rs: Vec<Option<i64>>,
}

impl<'a> CostArrays<'a> {
    fn push(&mut self, cost: Option<&'a crate::domain::pricing::CostPrediction>) {
        self.market.push(cost.map(|c| c.market.as_str()));
        self.currency.push(cost.map(|c| c.currency.as_str()));
        self.category.push(cost.map(|c| c.category.as_str()));
        self.kind.push(cost.map(|c| c.pricing_type.as_str()));
        self.price.push(cost.map(|c| c.price_micros));
        self.rm.push(cost.map(|c| c.rates.marketing));
        self.ru.push(cost.map(|c| c.rates.utility));
        self.ra.push(cost.map(|c| c.rates.authentication));
        self.rs.push(cost.map(|c| c.rates.service));
    }
}

/// The steps at `which` in ONE statement, its own transaction, so a conversation's row is
/// locked only while the statement runs; returns (index, what was committed) of the steps
/// it committed: the new outbound ids, the first reply when it was leased to the step's
/// owner (a job with `hand_until`, the reply next in its conversation's line), and whether
/// a released conversation still has work. Every part of a step is guarded by its conversation's update, which happens
/// only while the lease is held and the event is unprocessed, so a refused step writes
/// nothing at all. Conversations are locked in id order before any is changed, the order
/// timer firing and ingest use too, so a batch never deadlocks with them or another batch.
///
/// Cancelled timers are deleted with `skip locked`: a timer locked by someone else is
/// being fired right now (only firing and the conversation's own steps touch timers, and
/// the lease allows one step at a time), it becomes an event the engine finds stale. Not
/// waiting for it keeps the lock order of a firing (timers, then conversations) from
/// deadlocking with this statement (conversations, then timers).
///
/// A handed reply's "next in line" is decided as the outbox's claim decides it: the
/// messages queued in the statement's snapshot, each re-read under a lock (see `head`). A
/// message of the conversation queued by someone else in the same instant (an API send, a
/// broadcast) can be missed by both, and may then leave first.
async fn commit_together(
    pool: &PgPool,
    jobs: &[StepJob],
    which: &[usize],
) -> StoreResult<Vec<(usize, Committed)>> {
    let picked: Vec<&StepCommit> = which.iter().map(|&i| &jobs[i].step).collect();
    let hands: Vec<Option<DateTime<Utc>>> = which.iter().map(|&i| jobs[i].hand_until).collect();
    let conversations: Vec<i64> = picked.iter().map(|s| s.conversation_id).collect();
    let owners: Vec<&str> = picked.iter().map(|s| s.owner.as_str()).collect();
    let events: Vec<i64> = picked.iter().map(|s| s.event_id).collect();
    let states: Vec<Json<&ConversationState>> = picked.iter().map(|s| Json(&s.state)).collect();
    let nows: Vec<DateTime<Utc>> = picked.iter().map(|s| s.now).collect();
    let queued: Vec<DateTime<Utc>> = picked.iter().map(|s| s.queued_at).collect();
    let releases: Vec<bool> = picked.iter().map(|s| s.release).collect();
    // Child rows name their step by its position `n` (1-based, as `with ordinality`).
    let (mut cancel_n, mut cancel_purpose) = (Vec::new(), Vec::new());
    let (mut timer_n, mut timer_purpose, mut timer_due, mut timer_payload) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut out_n, mut out_sender, mut out_conversation) = (Vec::new(), Vec::new(), Vec::new());
    let (mut out_payload, mut out_fallback, mut out_origin) = (Vec::new(), Vec::new(), Vec::new());
    let (mut count_n, mut count_hour) = (Vec::new(), Vec::new());
    let mut counts = super::insights::Columns::default();
    let (mut out_flow, mut out_step) = (Vec::new(), Vec::new());
    let mut out_first = Vec::new();
    // Each message's prediction (nulls where it has none), in the messages' order.
    let mut costs = CostArrays::default();
    for (k, step) in picked.iter().enumerate() {
        let n = k as i64 + 1;
        let hour = crate::domain::insight::hour_of(step.now);
        for _ in &step.insights.counts {
            count_n.push(n);
            count_hour.push(hour);
        }
        counts.push(&step.insights);
        for purpose in purposes(&step.cancel_timers) {
            cancel_n.push(n);
            cancel_purpose.push(purpose);
        }
        for t in &step.timers {
            let (purpose, payload) = t.timer.to_row();
            timer_n.push(n);
            timer_purpose.push(purpose);
            timer_due.push(t.due_at);
            timer_payload.push(Json(payload));
        }
        for (i, m) in step.outbound.iter().enumerate() {
            out_n.push(n);
            out_first.push(i == 0);
            out_sender.push(m.sender_id);
            out_conversation.push(m.conversation_id);
            out_payload.push(Json(&m.message));
            out_fallback.push(Json(&m.fallback));
            out_origin.push(m.origin.as_str());
            out_flow.push(m.flow.as_deref());
            out_step.push(m.step.as_deref());
            costs.push(m.cost.as_ref());
        }
    }
    let row = sqlx::query(
        "with step as (
             select * from unnest($1::bigint[], $2::text[], $3::bigint[], $4::jsonb[],
                                  $5::timestamptz[], $6::bool[], $36::timestamptz[],
                                  $38::timestamptz[])
                  with ordinality as s(conversation_id, owner, event_id, state, now, release,
                                       hand_until, queued_at, n)
         ), locked as (
             select id from conversations where id = any($1::bigint[])
             order by id
             for no key update
         ), conversation as (
             update conversations v set
                 state = s.state,
                 lease_owner = case when s.release then null else v.lease_owner end,
                 lease_until = case when s.release then null else v.lease_until end,
                 work_since = case when s.release then
                     (select min(received_at) from conversation_events e
                      where e.conversation_id = v.id and e.processed_at is null
                        and e.id <> s.event_id)
                     else v.work_since end,
                 has_work = case when s.release then
                     exists (select 1 from conversation_events e
                             where e.conversation_id = v.id and e.processed_at is null
                               and e.id <> s.event_id)
                     -- changed meanwhile? (see `release_lease`)
                     or not (v.xmin = (select c.xmin from conversations c where c.id = v.id))
                     else v.has_work end
             from step s join locked l on l.id = s.conversation_id
             where v.id = s.conversation_id and v.lease_owner = s.owner and v.lease_until > s.now
               -- A scalar subquery, one primary-key probe per step. Written as `exists`,
               -- the planner may join it instead, and a generic plan made while the table
               -- was small then read the whole pending-events index at every batch
               -- (1,761 entries, 7 of a 13 ms statement at 2,000/s): slower as the
               -- backlog grew, so the backlog grew.
               and (select e.processed_at is null from conversation_events e
                    where e.id = s.event_id and e.conversation_id = v.id)
             -- `head`: the step's first reply will be its conversation's next to leave (no
             -- message still queued: this statement's snapshot does not see its own
             -- inserts, so any queued one is older) and its sender is not stopped; it is
             -- then leased to the step's owner until `hand_until`, as a claim would. The
             -- queued rows are locked to be read as they are now, not as the snapshot had
             -- them: a send recorded meanwhile as accepted (`outbox::record_accepted`) is
             -- no longer queued, or is waited for. Read from the snapshot, a send whose
             -- record committed during this statement still looked queued here, while the
             -- record's look for queued messages ran before this commit: neither side
             -- would lease the reply, and it waited for a poll.
             returning v.id, s.n, s.event_id, s.now, s.queued_at, s.owner, s.hand_until,
                 v.last_inbound_at, v.has_work,
                 s.hand_until is not null
                     and not exists (select 1 from outbound_messages o
                                     where o.conversation_id = v.id and o.status = 'queued'
                                     for share)
                     and not exists (select 1 from sender_stops st
                                     where st.sender_id = v.sender_id) as head
         ), event as (
             update conversation_events e set processed_at = c.now
             from conversation c
             where e.id = c.event_id and e.conversation_id = c.id
         ), cancelled as (
             delete from timers
             where id in (select t.id
                          from unnest($7::bigint[], $8::text[]) as x(n, purpose)
                          join conversation c on c.n = x.n
                          join timers t on t.conversation_id = c.id and t.purpose = x.purpose
                          for update of t skip locked)
         ), new_timers as (
             insert into timers (conversation_id, purpose, due_at, payload)
             select c.id, x.purpose, x.due_at, x.payload
             from unnest($9::bigint[], $10::text[], $11::timestamptz[], $12::jsonb[])
                  as x(n, purpose, due_at, payload)
             join conversation c on c.n = x.n
         ), outbound as (
             insert into outbound_messages
                 (sender_id, conversation_id, payload, fallback, origin, status,
                  next_attempt_at, created_at, updated_at, flow, step, lease_owner, lease_until)
             select m.sender_id, m.conversation_id, m.payload, m.fallback, m.origin,
                    'queued', c.queued_at, c.queued_at, c.queued_at, m.flow, m.step,
                    case when m.first and c.head then c.owner end,
                    case when m.first and c.head then c.hand_until end
             from unnest($13::bigint[], $14::bigint[], $15::bigint[], $16::jsonb[],
                         $17::jsonb[], $18::text[], $19::text[], $20::text[], $37::bool[])
                  with ordinality as m(n, sender_id, conversation_id, payload, fallback, origin,
                                       flow, step, first, k)
             join conversation c on c.n = m.n
             order by m.k
             returning id, lease_owner is not null as leased
         ), numbered as (
             select id, row_number() over (order by id) as r from outbound
         ), costs as (
             -- The committed steps' messages in input order are the ids in order: the
             -- r-th of them is the r-th id.
             insert into message_costs (outbound_id, sender_id, market, currency,
                 predicted_category, predicted_type, predicted_micros, rate_marketing,
                 rate_utility, rate_authentication, rate_service, created_at, updated_at)
             select nb.id, x.sender_id, x.market, x.currency, x.category, x.kind, x.price,
                    x.rm, x.ru, x.ra, x.rs, x.now, x.now
             from (select m.sender_id, c.queued_at as now, p.*, row_number() over (order by m.k) as r
                   from unnest($13::bigint[], $14::bigint[]) with ordinality as m(n, sender_id, k)
                   join conversation c on c.n = m.n
                   join unnest($21::text[], $22::text[], $23::text[], $24::text[],
                               $25::bigint[], $26::bigint[], $27::bigint[], $28::bigint[],
                               $29::bigint[])
                        with ordinality as p(market, currency, category, kind, price,
                                             rm, ru, ra, rs, k)
                        on p.k = m.k) x
             join numbered nb on nb.r = x.r
             where x.market is not null
         ), insights as (
             -- Summed per counter (two steps of a batch may add to one), in lock order.
             insert into flow_insights (flow, step, hour, what, n)
             select x.flow, x.step, x.hour, x.what, cast(sum(x.n) as bigint)
             from unnest($30::bigint[], $31::bigint[], $32::text[], $33::text[], $34::text[],
                         $35::bigint[]) as x(n_step, hour, flow, step, what, n)
             join conversation c on c.n = x.n_step
             group by x.flow, x.step, x.hour, x.what
             order by x.flow, x.step, x.hour, x.what
             on conflict (flow, step, hour, what) do update set n = flow_insights.n + excluded.n
         )
         select coalesce((select array_agg(n order by n) from conversation), '{}') as committed,
                coalesce((select array_agg(has_work order by n) from conversation), '{}') as more,
                coalesce((select array_agg(last_inbound_at order by n) from conversation), '{}')
                    as last_inbound,
                coalesce((select array_agg(id order by id) from outbound), '{}') as ids,
                coalesce((select array_agg(id) from outbound where leased), '{}') as handed",
    )
    .bind(&conversations)
    .bind(owners)
    .bind(events)
    .bind(states)
    .bind(nows)
    .bind(releases)
    .bind(cancel_n)
    .bind(cancel_purpose)
    .bind(timer_n)
    .bind(timer_purpose)
    .bind(timer_due)
    .bind(timer_payload)
    .bind(&out_n)
    .bind(out_sender)
    .bind(out_conversation)
    .bind(out_payload)
    .bind(out_fallback)
    .bind(out_origin)
    .bind(out_flow)
    .bind(out_step)
    .bind(costs.market)
    .bind(costs.currency)
    .bind(costs.category)
    .bind(costs.kind)
    .bind(costs.price)
    .bind(costs.rm)
    .bind(costs.ru)
    .bind(costs.ra)
    .bind(costs.rs)
    .bind(count_n)
    .bind(count_hour)
    .bind(counts.flows)
    .bind(counts.steps)
    .bind(counts.whats)
    .bind(counts.ns)
    .bind(hands)
    .bind(out_first)
    .bind(queued)
    .fetch_one(pool)
    .await?;
    // One entry per committed step, in step order (`n`).
    let committed: Vec<i64> = row.try_get("committed")?;
    let more: Vec<bool> = row.try_get("more")?;
    let last_inbound: Vec<Option<DateTime<Utc>>> = row.try_get("last_inbound")?;
    let handed: std::collections::HashSet<i64> =
        row.try_get::<Vec<i64>, _>("handed")?.into_iter().collect();
    let mut per_step = committed
        .into_iter()
        .zip(more.into_iter().zip(last_inbound))
        .peekable();
    // Identity values follow the insert's `order by`: sorted ids are the committed steps'
    // messages in input order.
    let mut ids = row.try_get::<Vec<i64>, _>("ids")?.into_iter();
    let mut done: Vec<(usize, Committed)> = Vec::with_capacity(picked.len());
    for (k, step) in picked.iter().enumerate() {
        let n = k as i64 + 1;
        let Some((_, (has_work, last_inbound_at))) = per_step.next_if(|(c, _)| *c == n) else {
            continue;
        };
        let mine: Vec<i64> = ids.by_ref().take(step.outbound.len()).collect();
        if mine.len() != step.outbound.len() {
            return Err(StoreError::Corrupt(format!(
                "a batch of steps stored fewer replies than it was given (step of conversation {})",
                step.conversation_id
            )));
        }
        // The leased reply as the outbox would have read it from its row.
        let handed = match (mine.first(), step.outbound.first()) {
            (Some(&id), Some(first)) if handed.contains(&id) => Some(OutboxItem {
                id,
                sender_id: first.sender_id,
                conversation_id: step.conversation_id,
                message: first.message.clone(),
                fallback: first.fallback.clone(),
                attempts: 0,
                created_at: step.queued_at,
                last_inbound_at,
            }),
            _ => None,
        };
        done.push((
            which[k],
            Committed {
                ids: mine,
                handed,
                more_work: step.release && has_work,
            },
        ));
    }
    Ok(done)
}

/// What `load_work` and `claim_work` read for each conversation `v` (its columns as
/// `rows::conversation` wants them): a row per waiting event (or one row with no event,
/// up to `{events}` of them), each carrying its conversation, contact and the latest
/// broadcast reply route. `$source` provides `v`; `$order` finishes it.
macro_rules! work_query {
    ($source:expr, $events:literal, $order:literal) => {
        concat!(
            $source,
            "
         select v.id, v.sender_id, v.contact_id, v.last_inbound_at, v.state, v.created_at,
                c.key, c.name, c.attributes, c.tags, c.created_at as contact_created_at,
                c.bsuid, c.username,
                e.id as event_id, e.payload as event_payload,
                e.received_at as event_received_at,
                br.id as reply_recipient, br.reply_flow, br.reply_until
         from v
         join contacts c on c.id = v.contact_id
         left join lateral (
             select id, payload, received_at from conversation_events
             where conversation_id = v.id and processed_at is null
             order by id
             limit ",
            $events,
            "
         ) e on true
         ",
            latest_broadcast_reply!("true"),
            "
         order by ",
            $order
        )
    };
}

/// The latest broadcast sent to the customer of conversation `v` that names a reply flow,
/// as `br` (`id`, `reply_flow`, `reply_until`), looked up only where `$when` holds.
macro_rules! latest_broadcast_reply {
    ($when:literal) => {
        concat!(
            "left join lateral (
             select r.id, b.reply_flow, r.reply_until
             from broadcast_recipients r join broadcasts b on b.id = r.broadcast_id
             where ",
            $when,
            " and r.conversation_id = v.id and r.reply_until is not null
               and b.reply_flow is not null
               and exists (select 1 from outbound_messages o where o.broadcast_recipient = r.id
                           and o.status in ('accepted', 'sent', 'delivered', 'read'))
             order by r.id desc limit 1
         ) br on true"
        )
    };
}
pub(super) use latest_broadcast_reply;

/// Claims as `claim_conversations` does and reads the claimed conversations' work in the
/// same statement (one round trip, on the lease pool): the update's `returning` gives the
/// conversations' newest rows, the events are those committed when the statement began
/// (later ones keep `has_work` set, so the release says there is more work).
const CLAIM_WORK: &str = work_query!(
    concat!(
        "with v as (",
        claim_update!("$6"),
        ", sender_id, contact_id, last_inbound_at, state, created_at)"
    ),
    "$5",
    "v.work_since, v.id, e.id"
);

/// The waiting work of many conversations (`$1`, at most `$2` events each).
const LOAD_WORK: &str = work_query!(
    "with v as (select * from conversations where id = any($1))",
    "$2",
    "v.id, e.id"
);

/// The work in `rows` (`work_query!`), each conversation once, in the order the rows give
/// them. A conversation whose row cannot be read gets the error instead.
pub(super) fn gather_work(
    rows: &[sqlx::postgres::PgRow],
) -> Vec<(i64, StoreResult<ConversationWork>)> {
    let mut found: Vec<(i64, StoreResult<ConversationWork>)> = Vec::new();
    for row in rows {
        let read = (|| -> StoreResult<(i64, Option<StoredEvent>)> {
            let id: i64 = row.try_get("id")?;
            let event = match row.try_get::<Option<i64>, _>("event_id")? {
                Some(event_id) => Some(StoredEvent {
                    id: event_id,
                    conversation_id: id,
                    kind: json(row, "event_payload")?,
                    received_at: row.try_get("event_received_at")?,
                }),
                None => None,
            };
            Ok((id, event))
        })();
        let (id, event) = match read {
            Ok(read) => read,
            Err(e) => {
                if let Ok(id) = row.try_get::<i64, _>("id") {
                    match found.iter_mut().find(|(i, _)| *i == id) {
                        Some(entry) => entry.1 = Err(e),
                        None => found.push((id, Err(e))),
                    }
                }
                continue;
            }
        };
        // Rows come grouped by conversation: the last entry is the one to extend.
        if found.last().map(|(i, _)| *i) != Some(id) {
            let work = (|| -> StoreResult<ConversationWork> {
                Ok(ConversationWork {
                    conversation: rows::conversation(row)?,
                    contact: rows::contact(row, "contact_id", "contact_created_at")?,
                    events: Vec::new(),
                    broadcast_reply: match row.try_get::<Option<i64>, _>("reply_recipient")? {
                        Some(recipient_id) => Some(crate::domain::broadcast::BroadcastReply {
                            recipient_id,
                            flow: row.try_get("reply_flow")?,
                            until: row.try_get("reply_until")?,
                        }),
                        None => None,
                    },
                })
            })();
            found.push((id, work));
        }
        if let (Some((_, Ok(work))), Some(event)) = (found.last_mut(), event) {
            work.events.push(event);
        }
    }
    found
}

/// The waiting work of many conversations (id, events wanted) in ONE query (`LOAD_WORK`).
/// Loads are batched as writes are (see `batch.rs`): under load, the conversations claimed
/// together are read together.
pub(super) async fn load_work(
    pool: PgPool,
    wanted: Vec<(i64, i64)>,
) -> Vec<StoreResult<ConversationWork>> {
    let ids: Vec<i64> = wanted.iter().map(|(id, _)| *id).collect();
    let limit = wanted.iter().map(|(_, limit)| *limit).max().unwrap_or(0);
    let rows = sqlx::query(LOAD_WORK)
        .bind(&ids)
        .bind(limit)
        .fetch_all(&pool)
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) if wanted.len() == 1 => return vec![Err(e.into())],
        Err(e) => {
            // Each conversation gets its own answer.
            tracing::warn!(error = %e, conversations = wanted.len(), "loading work together failed; loading it one by one");
            let mut each = Vec::with_capacity(wanted.len());
            for w in wanted {
                each.extend(Box::pin(load_work(pool.clone(), vec![w])).await);
            }
            return each;
        }
    };
    let mut found: std::collections::HashMap<i64, StoreResult<ConversationWork>> =
        gather_work(&rows).into_iter().collect();
    wanted
        .iter()
        .map(|(id, limit)| {
            // The same conversation asked for twice in one batch gets the same answer.
            let mut work = match found.get(id) {
                Some(Ok(work)) => work.clone(),
                Some(Err(_)) => found.remove(id).expect("just seen")?,
                None => {
                    return Err(StoreError::NotFound {
                        what: "conversation",
                        id: *id,
                    })
                }
            };
            work.events.truncate(*limit as usize);
            Ok(work)
        })
        .collect()
}

/// The stored `purpose` of each kind of timer a step cancels.
fn purposes(kinds: &[TimerKind]) -> Vec<String> {
    kinds.iter().map(TimerKind::purpose).collect()
}

#[cfg(test)]
mod tests {
    use super::ExpiredWalk;
    use chrono::{DateTime, TimeZone, Utc};
    use std::time::Duration;

    fn t(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
    }

    /// A claim walks the leases that ended since one lease before the previous claim that
    /// succeeded without filling its batch; the first claim, one every ten leases and one
    /// after the clock went back walk them all.
    #[test]
    fn claims_walk_from_one_lease_before_the_previous_claim() {
        let lease = Duration::from_secs(30);
        let mut walk = ExpiredWalk::default();
        let claim = |walk: &mut ExpiredWalk, at: i64| {
            let since = walk.since(t(at), lease);
            walk.walked(t(at), since, false);
            since
        };
        assert_eq!(claim(&mut walk, 0), None);
        assert_eq!(claim(&mut walk, 1), Some(t(-30)));
        // A claim that failed walked nothing: the next looks from the one before it.
        assert_eq!(walk.since(t(2), lease), Some(t(-29)));
        assert_eq!(claim(&mut walk, 100), Some(t(-29)));
        // A full batch may have stopped among the leases that ran out: the next claim
        // looks from the same place.
        let since = walk.since(t(150), lease);
        walk.walked(t(150), since, true);
        assert_eq!(since, Some(t(70)));
        assert_eq!(claim(&mut walk, 299), Some(t(70)));
        // Ten leases after the last full walk, everything again; a full batch counts as
        // that walk, and the next claim looks from the claim before it.
        let since = walk.since(t(300), lease);
        walk.walked(t(300), since, true);
        assert_eq!(since, None);
        assert_eq!(claim(&mut walk, 301), Some(t(269)));
        assert_eq!(claim(&mut walk, 302), Some(t(271)));
        // A clock set back.
        assert_eq!(claim(&mut walk, 200), None);
        assert_eq!(claim(&mut walk, 201), Some(t(170)));
        // A lease too long to count: no full walk after the first (nothing runs out).
        let mut forever = ExpiredWalk::default();
        assert_eq!(claim(&mut forever, 0), None);
        assert_eq!(
            forever.since(t(5), Duration::from_secs(u64::MAX)),
            Some(t(0))
        );
    }
}
