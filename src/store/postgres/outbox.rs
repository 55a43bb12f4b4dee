//! The outbox on PostgreSQL: batch enqueue, head-of-line claims per conversation with
//! `skip locked`, send outcomes, and stopped senders.

use super::rows::{self, json, OUTBOUND_COLUMNS};
use super::PgStore;
use crate::store::apply::lease_until;
use crate::store::{
    NewOutbound, OutboundRecord, OutboxItem, SendOutcome, SenderStop, StoreError, StoreResult,
};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};
use std::time::Duration;

/// Inserts messages ready to send at `now` in one statement; ids come back in input order.
pub(super) async fn insert_outbound(
    conn: &mut PgConnection,
    messages: &[NewOutbound],
    now: DateTime<Utc>,
) -> StoreResult<Vec<i64>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let senders: Vec<i64> = messages.iter().map(|m| m.sender_id).collect();
    let conversations: Vec<i64> = messages.iter().map(|m| m.conversation_id).collect();
    let payloads: Vec<_> = messages.iter().map(|m| Json(&m.message)).collect();
    let fallbacks: Vec<_> = messages.iter().map(|m| Json(&m.fallback)).collect();
    let origins: Vec<&str> = messages.iter().map(|m| m.origin.as_str()).collect();
    // Identity values follow the `order by`, so sorted ids are in input order.
    let mut ids: Vec<i64> = sqlx::query_scalar(
        "insert into outbound_messages
             (sender_id, conversation_id, payload, fallback, origin, status,
              next_attempt_at, created_at, updated_at)
         select sender_id, conversation_id, payload, fallback, origin, 'queued', $6, $6, $6
         from unnest($1::bigint[], $2::bigint[], $3::jsonb[], $4::jsonb[], $5::text[])
              with ordinality as m(sender_id, conversation_id, payload, fallback, origin, n)
         order by n
         returning id",
    )
    .bind(senders)
    .bind(conversations)
    .bind(payloads)
    .bind(fallbacks)
    .bind(origins)
    .bind(now)
    .fetch_all(conn)
    .await?;
    ids.sort_unstable();
    Ok(ids)
}

/// Records an accepted send (the caller then replays the statuses waiting for it).
const ACCEPTED: &str = "update outbound_messages set
        status = 'accepted', provider_message_id = $3,
        payload = case when $4::jsonb is null then payload
                       else jsonb_set(payload, '{content}', $4::jsonb) end,
        error_code = null, error_title = null,
        lease_owner = null, lease_until = null, updated_at = $5
    where id = $1 and lease_owner = $2";

/// The statement that takes the transaction-long lock of each provider message id in the
/// text array parameter `$p`, in key order. One text for both sides of the race below, so
/// they always agree on the keys.
macro_rules! lock_keys {
    ($p:literal) => {
        concat!(
            "select pg_advisory_xact_lock(k) from (select distinct hashtextextended(p, 0) as k from unnest(",
            $p,
            "::text[]) p order by k) sorted"
        )
    };
}

/// Takes the transaction-long lock of each provider message id, in one order.
///
/// A status can arrive while its send's outcome is being recorded. Without a lock, the
/// status finds no message with its provider id (the outcome is not committed yet) and is
/// kept as early, while the outcome finds no early status (that is not committed yet
/// either) and is recorded without it: the status would wait forever. The status's side
/// takes this lock before it looks for the send; the send's side takes it before it records
/// the provider id, holds it to its commit, and looks for early statuses in a statement
/// that starts after that commit (`record_one` does all of it in one transaction). So
/// either the status looks after the send committed and finds it, or the status was stored
/// before the send took the lock and the send's look finds it.
pub(super) async fn lock_provider_ids(
    conn: &mut PgConnection,
    provider_ids: &[&str],
) -> StoreResult<()> {
    if provider_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(lock_keys!("$1"))
        .bind(provider_ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// Claims up to `$4` sends ready at `$3` for owner `$1` until `$2` (see `claim_sends`).
pub(in crate::store) const CLAIM_SENDS: &str = "with claimed as (
         update outbound_messages set lease_owner = $1, lease_until = $2
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
         returning id, sender_id, conversation_id, payload, fallback, attempts, created_at
     )
     select m.*, c.last_inbound_at
     from claimed m join conversations c on c.id = m.conversation_id";

impl PgStore {
    pub(super) async fn enqueue_all(
        &self,
        messages: &[NewOutbound],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<i64>> {
        let mut conn = self.pool.acquire().await?;
        insert_outbound(&mut conn, messages, now).await
    }

    pub(super) async fn claim_sends(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
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
            .fetch_all(&self.pool)
            .await?;
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

    pub(super) async fn record(
        &self,
        id: i64,
        owner: &str,
        outcome: &SendOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        match outcome {
            SendOutcome::Accepted { .. } => {
                self.accepts
                    .submit(Outcome {
                        id,
                        owner: owner.to_string(),
                        outcome: outcome.clone(),
                        now,
                    })
                    .await
            }
            _ => record_one(&self.pool, id, owner, outcome, now).await,
        }
    }

    pub(super) async fn outbound_by_id(&self, id: i64) -> StoreResult<Option<OutboundRecord>> {
        let row = sqlx::query(&format!(
            "select {OUTBOUND_COLUMNS} from outbound_messages where id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rows::outbound).transpose()
    }

    pub(super) async fn outbound_page(
        &self,
        conversation_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<OutboundRecord>> {
        sqlx::query(&format!(
            "select {OUTBOUND_COLUMNS} from outbound_messages
             where conversation_id = $1 and ($2::bigint is null or id < $2)
             order by id desc
             limit $3"
        ))
        .bind(conversation_id)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::outbound)
        .collect()
    }

    pub(super) async fn depth(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("select count(*) from outbound_messages where status = 'queued'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub(super) async fn stop(
        &self,
        sender_id: i64,
        code: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "insert into sender_stops (sender_id, code, reason, stopped_at) values ($1, $2, $3, $4)
             on conflict (sender_id) do update set
                 code = excluded.code, reason = excluded.reason, stopped_at = excluded.stopped_at",
        )
        .bind(sender_id)
        .bind(code)
        .bind(reason)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn resume(&self, sender_id: i64) -> StoreResult<()> {
        sqlx::query("delete from sender_stops where sender_id = $1")
            .bind(sender_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn stops(&self) -> StoreResult<Vec<SenderStop>> {
        sqlx::query(
            "select sender_id, code, reason, stopped_at from sender_stops order by sender_id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(SenderStop {
                sender_id: row.try_get("sender_id")?,
                code: row.try_get("code")?,
                reason: row.try_get("reason")?,
                stopped_at: row.try_get("stopped_at")?,
            })
        })
        .collect()
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
    super::ingest::replay_early_statuses(&mut tx, id).await?;
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
/// without a transaction held across round trips. A second, read-only statement then looks
/// for statuses that arrived early for those sends; it runs after the commit, so it sees
/// every early status stored before the locks were taken, and replays them. Sends not
/// recorded (a lost lease; all of them, should the statement fail) go through `record_one`,
/// which says why.
pub(super) async fn record_accepted(pool: PgPool, batch: Vec<Outcome>) -> Vec<StoreResult<()>> {
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
            tracing::warn!(error = %e, sends = batch.len(), "a batch of send outcomes failed as a whole; recording them one by one");
            Vec::new()
        }
    };
    let replayed = replay_waiting(pool, &recorded).await;
    let recorded: std::collections::HashSet<i64> = recorded.into_iter().collect();
    let mut results = Vec::with_capacity(batch.len());
    for o in &batch {
        results.push(if !recorded.contains(&o.id) {
            record_one(pool, o.id, &o.owner, &o.outcome, o.now).await
        } else {
            match &replayed {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Commit(format!(
                    "send recorded, but replaying its early statuses failed: {e}"
                ))),
            }
        });
    }
    results
}

/// Every send of the batch that holds its lease, in one autocommit statement that first
/// takes the provider ids' locks (in key order), then the rows' locks (in id order).
/// Returns the ids recorded.
async fn record_together(
    pool: &PgPool,
    ids: &[i64],
    owners: Vec<&str>,
    provider_ids: &[&str],
    converted: Vec<Option<Json<&crate::domain::OutboundContent>>>,
    nows: Vec<DateTime<Utc>>,
) -> StoreResult<Vec<i64>> {
    Ok(sqlx::query_scalar(concat!(
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
             status = 'accepted', provider_message_id = x.provider_message_id,
             payload = case when x.converted is null then o.payload
                            else jsonb_set(o.payload, '{content}', x.converted) end,
             error_code = null, error_title = null,
             lease_owner = null, lease_until = null, updated_at = x.now
         from x join locked l on l.id = x.id
         where o.id = x.id and o.lease_owner = x.owner
         returning o.id"
    ))
    .bind(ids)
    .bind(owners)
    .bind(provider_ids)
    .bind(converted)
    .bind(nows)
    .fetch_all(pool)
    .await?)
}

/// Applies the statuses that wait for any of the sends `ids` (just recorded as accepted).
async fn replay_waiting(pool: &PgPool, ids: &[i64]) -> StoreResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let waiting: Vec<i64> = sqlx::query_scalar(
        "select distinct o.id from outbound_messages o
         join early_statuses e
           on e.sender_id = o.sender_id and e.provider_message_id = o.provider_message_id
         where o.id = any($1)
         order by o.id",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    for id in waiting {
        let mut tx = pool.begin().await?;
        super::ingest::replay_early_statuses(&mut tx, id).await?;
        tx.commit().await?;
    }
    Ok(())
}
