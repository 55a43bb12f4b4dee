//! `EventsOut` on PostgreSQL: several processes may fan out, claim and deliver at once.
//! Fan-out is idempotent (unique endpoint and event, the cursor only moves forward); a
//! claim takes due rows `for update skip locked` and leases them in one statement, so two
//! processes never hold the same delivery; an outcome is recorded only by the lease's owner.

use super::PgStore;
use crate::domain::{Id, OutEvent};
use crate::store::events_log::logged;
use crate::store::events_out::{
    claim_limit, delivery, log_limit, log_query, result_columns, DeliveryCols,
};
use crate::store::{
    ClaimedDelivery, Delivery, DeliveryFilter, DeliveryResult, EventsOut, ReplaySelection,
    StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

type EventCols = (Id, String, DateTime<Utc>, Option<Id>, Option<i64>, Value);

fn event((id, kind, at, conversation_id, sender_id, data): EventCols) -> StoreResult<OutEvent> {
    logged((id, kind, conversation_id, sender_id), at, data)
}

const CLAIM: &str = "with due as (
         select d.id from event_deliveries d
         where d.endpoint = $1 and d.state = 'pending' and d.next_at <= $2
           and (d.lease_until is null or d.lease_until < $2)
           -- the first pending event of its conversation: min() over the partial index
           -- (endpoint, conversation_id, event_id) is one probe per row whatever the
           -- statistics say (a `not exists` anti join was planned as a scan of every
           -- pending row per row while the table was young: seconds per claim)
           and (d.conversation_id is null or d.event_id = (
               select min(p.event_id) from event_deliveries p
               where p.endpoint = $1 and p.conversation_id = d.conversation_id
                 and p.state = 'pending'))
         order by d.next_at, d.event_id
         limit $3
         for update skip locked)
     update event_deliveries d set lease_owner = $4, lease_until = $5
     from due where d.id = due.id
     returning d.id, d.attempts, d.event_id";

#[async_trait]
impl EventsOut for PgStore {
    async fn event_cursor(&self, endpoint: &str) -> StoreResult<Id> {
        sqlx::query(
            "insert into event_cursors (endpoint, last_event_id)
             select $1, coalesce(max(id), 0) from events_out
             on conflict (endpoint) do nothing",
        )
        .bind(endpoint)
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("select last_event_id from event_cursors where endpoint = $1")
                .bind(endpoint)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn events_after(&self, after: Id, limit: i64) -> StoreResult<Vec<OutEvent>> {
        let rows: Vec<EventCols> = sqlx::query_as(
            "select id, kind, at, conversation_id, sender_id, data from events_out
             where id > $1 order by id limit $2",
        )
        .bind(after)
        .bind(claim_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(event).collect()
    }

    async fn fan_out(
        &self,
        endpoint: &str,
        events: &[OutEvent],
        through: Id,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let ids: Vec<Id> = events.iter().map(|e| e.id).collect();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        let conversations: Vec<Option<Id>> = events.iter().map(|e| e.conversation_id).collect();
        let ats: Vec<DateTime<Utc>> = events.iter().map(|e| e.at).collect();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "insert into event_deliveries
                 (endpoint, event_id, kind, conversation_id, event_at, next_at)
             select $1, e.id, e.kind, e.conversation_id, e.at, $6
             from unnest($2::bigint[], $3::text[], $4::bigint[], $5::timestamptz[])
                  as e(id, kind, conversation_id, at)
             order by e.id
             on conflict (endpoint, event_id, event_at) do nothing",
        )
        .bind(endpoint)
        .bind(ids)
        .bind(kinds)
        .bind(conversations)
        .bind(ats)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "insert into event_cursors (endpoint, last_event_id) values ($1, $2)
             on conflict (endpoint) do update
             set last_event_id = greatest(event_cursors.last_event_id, excluded.last_event_id)",
        )
        .bind(endpoint)
        .bind(through)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn claim_deliveries(
        &self,
        endpoint: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let claimed: Vec<(Id, i64, Id)> = sqlx::query_as(CLAIM)
            .bind(endpoint)
            .bind(now)
            .bind(claim_limit(limit))
            .bind(owner)
            .bind(lease_until)
            .fetch_all(&self.pool)
            .await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Id> = claimed.iter().map(|c| c.2).collect();
        let rows: Vec<EventCols> = sqlx::query_as(
            "select id, kind, at, conversation_id, sender_id, data from events_out
             where id = any($1)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let mut events: std::collections::HashMap<Id, OutEvent> = rows
            .into_iter()
            .map(|r| event(r).map(|e| (e.id, e)))
            .collect::<StoreResult<_>>()?;
        let mut out: Vec<ClaimedDelivery> = claimed
            .into_iter()
            .filter_map(|(id, attempts, event_id)| {
                events.remove(&event_id).map(|event| ClaimedDelivery {
                    id,
                    attempts,
                    event,
                })
            })
            .collect();
        out.sort_by_key(|c| c.event.id);
        Ok(out)
    }

    async fn finish_delivery(
        &self,
        id: Id,
        owner: &str,
        result: &DeliveryResult,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (state, status, error, next_at, delivered) = result_columns(result);
        let n = sqlx::query(
            "update event_deliveries
             set state = $3, attempts = attempts + 1, last_attempt_at = $4,
                 last_status = $5, last_error = $6, next_at = coalesce($7, next_at),
                 delivered_at = $8, lease_owner = null, lease_until = null
             where id = $1 and lease_owner = $2 and state = 'pending'",
        )
        .bind(id)
        .bind(owner)
        .bind(state)
        .bind(now)
        .bind(status)
        .bind(error)
        .bind(next_at)
        .bind(delivered.then_some(now))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn deliveries(&self, f: &DeliveryFilter) -> StoreResult<Vec<Delivery>> {
        let query = log_query(|i| match i {
            1..=3 => format!("${i}::text"),
            7 => format!("${i}"),
            _ => format!("${i}::bigint"),
        });
        let rows: Vec<DeliveryCols<DateTime<Utc>>> = sqlx::query_as(&query)
            .bind(f.endpoint.as_deref())
            .bind(f.state.map(|s| s.as_str()))
            .bind(f.kind.map(|k| k.as_str()))
            .bind(f.conversation_id)
            .bind(f.event_id)
            .bind(f.before)
            .bind(log_limit(f.limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(delivery).collect()
    }

    async fn out_event(&self, id: Id) -> StoreResult<Option<OutEvent>> {
        let row: Option<EventCols> = sqlx::query_as(
            "select id, kind, at, conversation_id, sender_id, data from events_out where id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(event).transpose()
    }

    async fn replay_deliveries(
        &self,
        endpoint: &str,
        selection: &ReplaySelection,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        const RESET: &str = "update event_deliveries
             set state = 'pending', attempts = 0, next_at = $2, lease_owner = null,
                 lease_until = null, delivered_at = null
             where endpoint = $1";
        let done = match selection {
            ReplaySelection::Ids(ids) => {
                sqlx::query(&format!("{RESET} and id = any($3)"))
                    .bind(endpoint)
                    .bind(now)
                    .bind(ids)
                    .execute(&self.pool)
                    .await?
            }
            ReplaySelection::Parked { since, until } => {
                sqlx::query(&format!(
                    "{RESET} and state = 'parked'
                     and ($3::timestamptz is null or event_at >= $3)
                     and ($4::timestamptz is null or event_at < $4)"
                ))
                .bind(endpoint)
                .bind(now)
                .bind(since)
                .bind(until)
                .execute(&self.pool)
                .await?
            }
        };
        Ok(done.rows_affected())
    }
}
