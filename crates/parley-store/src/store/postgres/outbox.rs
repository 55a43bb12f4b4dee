//! The outbox on PostgreSQL: batch enqueue, head-of-line claims per conversation with
//! `skip locked`, send outcomes, and stopped senders.

use super::rows::{insert_outbound, json};
use super::statuses::{lock_keys, lock_provider_ids, replay_early_statuses};
use super::PgStore;
use crate::store::apply::{lease_until, IN_DOUBT, OPTED_OUT_BEFORE_SEND, STOPPED_BY_OPT_OUT};
use crate::store::shared_reads::for_postgres as shared;
use crate::store::{
    NewOutbound, NextSend, OutboundRecord, Outbox, OutboxItem, SendOutcome, StoreError, StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgPool, Row};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Records an accepted send (the caller then replays the statuses waiting for it).
/// A status that came before this answer (it named the send) already moved it on (`sent`,
/// `read`, `failed`): kept. A send put in doubt meanwhile (its lease ran out while the
/// database was unreachable, and a claim or a takeover found it: no lease, or
/// `IN_DOUBT_OWNER`, still queued) takes the answer too: the provider did take it, so it
/// must not be sent again after the wait.
const ACCEPTED: &str = "update outbound_messages set
        status = case when status = 'queued' then 'accepted' else status end,
        provider_message_id = $3,
        payload = case when $4::jsonb is null then payload
                       else jsonb_set(payload, '{content}', $4::jsonb) end,
        error_code = case when status = 'queued' then null else error_code end,
        error_title = case when status = 'queued' then null else error_title end,
        lease_owner = null, lease_until = null, updated_at = $5
    where id = $1 and (lease_owner = $2 or lease_owner = 'in-doubt'
           or (lease_owner is null and status = 'queued'))";

/// Claims up to `$4` sends ready at `$3` for owner `$1` until `$2` (see `claim_sends`). A
/// send whose lease ran out (its process stopped mid-send) is put back to wait until `$5`
/// with `$6` as its error instead (the `set` expressions read the row as it was); it comes
/// back with `leased` false.
pub(in crate::store) const CLAIM_SENDS: &str = "with claimed as (
         update outbound_messages set
             lease_owner = case when lease_owner is null then $1 end,
             lease_until = case when lease_owner is null then $2 end,
             next_attempt_at = case when lease_owner is null then next_attempt_at else $5 end,
             attempts = attempts + case when lease_owner is null then 0 else 1 end,
             error_title = case when lease_owner is null then error_title else $6 end
         where id in (
             select o.id from outbound_messages o
             where o.status = 'queued'
               and o.next_attempt_at <= $3
               and (o.lease_until is null or o.lease_until <= $3)
               and not exists (select 1 from outbound_messages older
                               where older.conversation_id = o.conversation_id
                                 and older.status = 'queued' and older.id < o.id)
               and not exists (select 1 from sender_stops s where s.sender_id = o.sender_id)
             order by o.next_attempt_at, o.id
             limit $4
             for no key update skip locked)
         returning id, sender_id, conversation_id, payload, fallback, attempts, created_at,
             lease_owner is not null as leased
     )
     select m.*, c.last_inbound_at
     from claimed m join conversations c on c.id = m.conversation_id";

impl PgStore {
    /// Records a send's outcome: an accepted send through the group commit (which says
    /// whether its conversation has nothing more queued), any other alone.
    async fn record(
        &self,
        id: i64,
        owner: &str,
        outcome: &SendOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<NextSend> {
        // With events out recorded, each outcome is told of in its own transaction (the
        // group commit of accepted sends is one statement that tells nothing).
        let tell = self.events.on();
        match outcome {
            SendOutcome::Accepted { .. } if !tell => {
                self.accepts
                    .submit(Outcome {
                        id,
                        owner: owner.to_string(),
                        outcome: outcome.clone(),
                        now,
                    })
                    .await
            }
            _ => {
                record_one(&self.pool, id, owner, outcome, now, tell).await?;
                Ok(NextSend::Unknown)
            }
        }
    }
}

#[async_trait]
impl Outbox for PgStore {
    async fn enqueue(&self, messages: &[NewOutbound], now: DateTime<Utc>) -> StoreResult<Vec<i64>> {
        let mut conn = self.pool.acquire().await?;
        insert_outbound(&mut conn, messages, now).await
    }

    async fn claim_outbound(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        in_doubt: Duration,
        limit: i64,
    ) -> StoreResult<Vec<OutboxItem>> {
        // A message still `queued` blocks its conversation's later messages, in flight or
        // not, so replies leave in the order the flow produced them. Ordered as the
        // `outbound_messages_ready` index is, so the scan stops after `limit` rows: ordered
        // by id alone, every claim sorted the whole backlog and, once a backlog formed under
        // overload, claims took seconds and the backlog only grew.
        let rows = sqlx::query(CLAIM_SENDS)
            .bind(owner)
            .bind(lease_until(now, lease))
            .bind(now)
            .bind(limit)
            .bind(lease_until(now, in_doubt))
            .bind(IN_DOUBT)
            .fetch_all(&self.leases)
            .await?;
        let (rows, doubtful): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(|row| row.try_get::<bool, _>("leased").unwrap_or(true));
        if !doubtful.is_empty() {
            let ids: Vec<i64> = doubtful
                .iter()
                .filter_map(|row| row.try_get("id").ok())
                .collect();
            tracing::warn!(?ids, wait = ?in_doubt, "{IN_DOUBT}");
        }
        // Sorted here rather than by the statement, which then needs no sort at all.
        let mut items = rows
            .iter()
            .map(|row| {
                Ok(OutboxItem {
                    id: row.try_get("id")?,
                    sender_id: row.try_get("sender_id")?,
                    conversation_id: row.try_get("conversation_id")?,
                    message: json(row, "payload")?,
                    fallback: json(row, "fallback")?,
                    attempts: row.try_get("attempts")?,
                    created_at: row.try_get("created_at")?,
                    last_inbound_at: row.try_get("last_inbound_at")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        items.sort_by_key(|item| item.id);
        Ok(items)
    }

    async fn renew_outbound_lease(
        &self,
        item: &OutboxItem,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<bool> {
        let renewed = sqlx::query(
            "update outbound_messages set lease_until = $4
             where id = $1 and lease_owner = $2 and attempts = $3 and status = 'queued'",
        )
        .bind(item.id)
        .bind(owner)
        .bind(item.attempts)
        .bind(lease_until(now, lease))
        .execute(&self.leases)
        .await?;
        Ok(renewed.rows_affected() == 1)
    }

    async fn release_handed(
        &self,
        conversation_id: i64,
        owner: &str,
        hand_until: DateTime<Utc>,
    ) -> StoreResult<u64> {
        Ok(sqlx::query(
            "update outbound_messages set lease_owner = null, lease_until = null
             where conversation_id = $1 and lease_owner = $2 and lease_until = $3
               and status = 'queued'",
        )
        .bind(conversation_id)
        .bind(owner)
        .bind(hand_until)
        .execute(&self.leases)
        .await?
        .rows_affected())
    }

    async fn record_outcome(
        &self,
        id: i64,
        owner: &str,
        outcome: &SendOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.record(id, owner, outcome, now).await.map(|_| ())
    }

    /// Accepted sends are recorded in a batch that then looks whether their conversations
    /// still have a message queued: most have none, and their send then needs no claim.
    /// Nothing is leased here; when something is queued, a claim takes it.
    async fn record_outcome_and_claim_next(
        &self,
        item: &OutboxItem,
        owner: &str,
        outcome: &SendOutcome,
        now: DateTime<Utc>,
        _lease: Duration,
    ) -> StoreResult<NextSend> {
        self.record(item.id, owner, outcome, now).await
    }

    async fn outbound(&self, id: i64) -> StoreResult<Option<OutboundRecord>> {
        shared::outbound(&self.pool, id).await
    }

    async fn conversation_outbound(
        &self,
        conversation_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<OutboundRecord>> {
        shared::conversation_outbound(&self.pool, conversation_id, before, limit).await
    }

    async fn outbox_depth(&self) -> StoreResult<i64> {
        shared::outbox_depth(&self.pool).await
    }

    async fn broadcast_send_stop(&self, id: crate::domain::Id) -> StoreResult<Option<String>> {
        let opted_out = "c.attributes -> 'opted_out' = 'true'::jsonb";
        shared::broadcast_send_stop(&self.pool, opted_out, id).await
    }
}

/// Records one send's outcome; an accepted send with statuses waiting replays them in the
/// same transaction.
pub(super) async fn record_one(
    pool: &PgPool,
    id: i64,
    owner: &str,
    outcome: &SendOutcome,
    now: DateTime<Utc>,
    tell: bool,
) -> StoreResult<()> {
    let query = match outcome {
        // Inside the transaction below, whatever statuses wait.
        SendOutcome::Accepted {
            provider_message_id,
            converted_to,
        } => sqlx::query(ACCEPTED)
            .bind(id)
            .bind(owner)
            .bind(provider_message_id)
            .bind(converted_to.as_ref().map(Json))
            .bind(now),
        SendOutcome::Retry { at, code, title } => sqlx::query(
            "update outbound_messages set
                 attempts = attempts + 1, next_attempt_at = $3, error_code = $4, error_title = $5,
                 lease_owner = null, lease_until = null, updated_at = $6
             where id = $1 and lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .bind(at)
        .bind(code)
        .bind(title)
        .bind(now),
        SendOutcome::Failed {
            code,
            title,
            window_closed,
        } => sqlx::query(
            "update outbound_messages set
                 status = 'failed', error_code = $3, error_title = $4, window_closed = $5,
                 lease_owner = null, lease_until = null, updated_at = $6
             where id = $1 and lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .bind(code)
        .bind(title)
        .bind(window_closed)
        .bind(now),
        // The reason is kept as the record's error title.
        SendOutcome::Skipped { reason } => sqlx::query(
            "update outbound_messages set
                 status = 'skipped', error_title = $3,
                 lease_owner = null, lease_until = null, updated_at = $4
             where id = $1 and lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .bind(reason)
        .bind(now),
        SendOutcome::Requeue => sqlx::query(
            "update outbound_messages set lease_owner = null, lease_until = null
             where id = $1 and lease_owner = $2",
        )
        .bind(id)
        .bind(owner),
    };
    let SendOutcome::Accepted {
        provider_message_id,
        ..
    } = outcome
    else {
        // WhatsApp held a marketing message back (131049) or the customer stopped marketing
        // (131050): the failure and what it does to the contact commit together, so a crash
        // between them can neither resend at once nor lose the copy. A failure told of
        // (events out) is told in the same transaction.
        let class = crate::store::apply::marketing_outcome(outcome);
        let told = tell && matches!(outcome, SendOutcome::Failed { .. });
        if class.is_some() || told {
            let mut tx = pool.begin().await?;
            if query.execute(&mut *tx).await?.rows_affected() == 0 {
                return Err(StoreError::LeaseLost {
                    what: "outbound message",
                    id,
                });
            }
            match class {
                Some(crate::domain::ErrorClass::MarketingLimited) => {
                    super::account::defer_in(&mut tx, id, now).await?;
                }
                Some(_) => super::account::stop_in(&mut tx, id, now).await?,
                None => {}
            }
            if told {
                super::events_log::tell_outbound(&mut tx, id, Some("failed"), now).await?;
            }
            tx.commit().await?;
            return Ok(());
        }
        // One statement: its own transaction, one round trip.
        if query.execute(pool).await?.rows_affected() == 0 {
            return Err(StoreError::LeaseLost {
                what: "outbound message",
                id,
            });
        }
        return Ok(());
    };
    // Record and replay the statuses that wait for it, under the provider id's lock.
    let mut tx = pool.begin().await?;
    lock_provider_ids(&mut tx, &[provider_message_id.as_str()]).await?;
    if query.execute(&mut *tx).await?.rows_affected() == 0 {
        return Err(StoreError::LeaseLost {
            what: "outbound message",
            id,
        });
    }
    if tell {
        super::events_log::tell_outbound(&mut tx, id, None, now).await?;
    }
    replay_early_statuses(&mut tx, id, tell).await?;
    tx.commit().await?;
    Ok(())
}

/// A send outcome waiting for group commit.
#[derive(Debug)]
pub(super) struct Outcome {
    pub id: i64,
    pub owner: String,
    pub outcome: SendOutcome,
    pub now: DateTime<Utc>,
}

/// Group commit of accepted sends (see `batch.rs`): one statement records every send of the
/// batch that holds its lease, under the provider ids' locks (see `lock_provider_ids`),
/// without a transaction held across round trips. A second, read-only statement
/// (`after_accepted`) then looks for statuses that arrived early for those sends (it runs
/// after the commit, so it sees every early status stored before the locks were taken)
/// and replays them; in the same look it finds which of their conversations still have a
/// message queued. A send whose conversation has none answers `NextSend::Nothing`, so the
/// outbox claims nothing after it; the others answer `Unknown`, and a claim looks. Sends
/// not recorded (a lost lease; all of them, should the statement fail) go through
/// `record_one`, which says why.
pub(super) async fn record_accepted(
    pool: PgPool,
    batch: Vec<Outcome>,
) -> Vec<StoreResult<NextSend>> {
    let pool = &pool;
    let mut ids = Vec::with_capacity(batch.len());
    let mut owners = Vec::with_capacity(batch.len());
    let mut provider_ids = Vec::with_capacity(batch.len());
    let mut converted = Vec::with_capacity(batch.len());
    let mut nows = Vec::with_capacity(batch.len());
    for o in &batch {
        if let SendOutcome::Accepted {
            provider_message_id,
            converted_to,
        } = &o.outcome
        {
            ids.push(o.id);
            owners.push(o.owner.as_str());
            provider_ids.push(provider_message_id.as_str());
            converted.push(converted_to.as_ref().map(Json));
            nows.push(o.now);
        }
    }
    let recorded = match record_together(pool, &ids, owners, &provider_ids, converted, nows).await {
        Ok(recorded) => recorded,
        Err(e) => {
            crate::metrics::logs::log_every!(warn, error = %e, sends = batch.len(), "a batch of send outcomes failed as a whole; recording them one by one");
            Vec::new()
        }
    };
    let after = after_accepted(pool, &recorded).await;
    let recorded: HashMap<i64, i64> = recorded.into_iter().collect();
    let mut results = Vec::with_capacity(batch.len());
    for o in &batch {
        results.push(match (recorded.get(&o.id), &after) {
            (None, _) => record_one(pool, o.id, &o.owner, &o.outcome, o.now, false)
                .await
                .map(|()| NextSend::Unknown),
            (Some(conversation), Ok(queued)) => Ok(if queued.contains(conversation) {
                NextSend::Unknown
            } else {
                NextSend::Nothing
            }),
            (Some(_), Err(e)) => Err(StoreError::Commit(format!(
                "send recorded, but replaying its early statuses failed: {e}"
            ))),
        });
    }
    results
}

/// Every send of the batch that holds its lease, in one autocommit statement that first
/// takes the provider ids' locks (in key order), then the rows' locks (in id order).
/// Returns the ids recorded, each with its conversation's.
async fn record_together(
    pool: &PgPool,
    ids: &[i64],
    owners: Vec<&str>,
    provider_ids: &[&str],
    converted: Vec<Option<Json<&crate::domain::OutboundContent>>>,
    nows: Vec<DateTime<Utc>>,
) -> StoreResult<Vec<(i64, i64)>> {
    Ok(sqlx::query_as(concat!(
        "with keys as (",
        lock_keys!("$3"),
        "), x as (
             select * from unnest($1::bigint[], $2::text[], $3::text[], $4::jsonb[],
                                  $5::timestamptz[])
                  as x(id, owner, provider_message_id, converted, now)
         ), locked as (
             select id from outbound_messages
             where id = any($1::bigint[]) and (select count(*) from keys) >= 0
             order by id
             for no key update
         )
         update outbound_messages o set
             status = case when o.status = 'queued' then 'accepted' else o.status end,
             provider_message_id = x.provider_message_id,
             payload = case when x.converted is null then o.payload
                            else jsonb_set(o.payload, '{content}', x.converted) end,
             error_code = case when o.status = 'queued' then null else o.error_code end,
             error_title = case when o.status = 'queued' then null else o.error_title end,
             lease_owner = null, lease_until = null, updated_at = x.now
         from x join locked l on l.id = x.id
         where o.id = x.id and (o.lease_owner = x.owner or o.lease_owner = 'in-doubt'
                or (o.lease_owner is null and o.status = 'queued'))
         returning o.id, o.conversation_id"
    ))
    .bind(ids)
    .bind(owners)
    .bind(provider_ids)
    .bind(converted)
    .bind(nows)
    .fetch_all(pool)
    .await?)
}

/// After `recorded` (send id, conversation id) were committed as accepted: applies the
/// statuses that wait for any of them, and returns which of their conversations still have
/// a message queued. One statement for both looks.
async fn after_accepted(pool: &PgPool, recorded: &[(i64, i64)]) -> StoreResult<HashSet<i64>> {
    if recorded.is_empty() {
        return Ok(HashSet::new());
    }
    let ids: Vec<i64> = recorded.iter().map(|r| r.0).collect();
    let conversations: Vec<i64> = recorded.iter().map(|r| r.1).collect();
    let row = sqlx::query(
        "select
             coalesce((select array_agg(distinct o.id order by o.id) from outbound_messages o
                       join early_statuses e
                         on e.sender_id = o.sender_id
                        and e.provider_message_id = o.provider_message_id
                       where o.id = any($1)), '{}') as waiting,
             coalesce((select array_agg(distinct q.conversation_id) from outbound_messages q
                       where q.conversation_id = any($2) and q.status = 'queued'), '{}')
                 as queued",
    )
    .bind(&ids)
    .bind(&conversations)
    .fetch_one(pool)
    .await?;
    let waiting: Vec<i64> = row.try_get("waiting")?;
    let queued: Vec<i64> = row.try_get("queued")?;
    for id in waiting {
        let mut tx = pool.begin().await?;
        // Only without events out (see `PgStore::record`): nothing to tell.
        replay_early_statuses(&mut tx, id, false).await?;
        tx.commit().await?;
    }
    Ok(queued.into_iter().collect())
}

/// An opt-out stops the contact's sends still queued (`apply::STOPPED_BY_OPT_OUT`), in
/// the transaction that records it; one a process holds (leased, or locked by its outcome's
/// transaction: skipped, not waited for) is being sent now and is left alone. Their
/// held-back marketing copies (131049) go too.
pub(super) async fn stop_queued_sends(
    conn: &mut sqlx::PgConnection,
    contact_id: i64,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "update outbound_messages set status = 'skipped', error_title = $3, updated_at = $2
         where id in (
             select id from outbound_messages
             where conversation_id in (select id from conversations where contact_id = $1)
               and status = 'queued' and origin in {STOPPED_BY_OPT_OUT}
               and (lease_until is null or lease_until <= $2)
             for update skip locked)"
    ))
    .bind(contact_id)
    .bind(now)
    .bind(OPTED_OUT_BEFORE_SEND)
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "delete from deferred_sends
         where conversation_id in (select id from conversations where contact_id = $1)
           and origin in {STOPPED_BY_OPT_OUT}"
    ))
    .bind(contact_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
