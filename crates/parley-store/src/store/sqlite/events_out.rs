//! `EventsOut` on SQLite: cursors, fan-out, claims, outcomes and replays are jobs of the
//! writer thread (one writer: a claim's select and its update see the same rows); the log
//! and events are read through the reader pool.

use super::rows::{micros, opt_time, time};
use super::SqliteStore;
use crate::domain::{Id, OutEvent};
use crate::store::events_log::logged;
use crate::store::events_out::{
    claim_limit, delivery, log_limit, log_query, result_columns, DeliveryCols,
};
use crate::store::{
    ClaimedDelivery, Delivery, DeliveryFilter, DeliveryResult, EventsOut, ReplaySelection,
    StoreError, StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;

type EventCols = (Id, String, i64, Option<Id>, Option<i64>, String);

fn event((id, kind, at, conversation_id, sender_id, data): EventCols) -> StoreResult<OutEvent> {
    let data = serde_json::from_str(&data)
        .map_err(|e| StoreError::Corrupt(format!("event {id}'s data: {e}")))?;
    logged((id, kind, conversation_id, sender_id), time(at)?, data)
}

const CLAIM: &str =
    "select d.id, d.attempts, e.id, e.kind, e.at, e.conversation_id, e.sender_id, e.data
     from event_deliveries d join events_out e on e.id = d.event_id
     where d.endpoint = ?1 and d.state = 'pending' and d.next_at <= ?2
       and (d.lease_until is null or d.lease_until < ?2)
       and not exists (
           select 1 from event_deliveries p
           where p.endpoint = d.endpoint and p.conversation_id = d.conversation_id
             and p.state = 'pending' and p.event_id < d.event_id)
     order by d.next_at, d.event_id
     limit ?3";

#[async_trait]
impl EventsOut for SqliteStore {
    async fn event_cursor(&self, endpoint: &str) -> StoreResult<Id> {
        let endpoint = endpoint.to_string();
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "insert into event_cursors (endpoint, last_event_id)
                     select ?1, coalesce(max(id), 0) from events_out where true
                     on conflict (endpoint) do nothing",
                )?
                .execute([&endpoint])?;
                Ok(conn
                    .prepare_cached("select last_event_id from event_cursors where endpoint = ?1")?
                    .query_row([&endpoint], |r| r.get(0))?)
            })
            .await
    }

    async fn events_after(&self, after: Id, limit: i64) -> StoreResult<Vec<OutEvent>> {
        let rows: Vec<EventCols> = sqlx::query_as(
            "select id, kind, at, conversation_id, sender_id, data from events_out
             where id > ?1 order by id limit ?2",
        )
        .bind(after)
        .bind(claim_limit(limit))
        .fetch_all(&self.reader)
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
        let endpoint = endpoint.to_string();
        let rows: Vec<(Id, &'static str, Option<Id>, i64)> = events
            .iter()
            .map(|e| (e.id, e.kind.as_str(), e.conversation_id, micros(e.at)))
            .collect();
        let now = micros(now);
        self.writer
            .run(move |conn| {
                let mut insert = conn.prepare_cached(
                    "insert into event_deliveries
                         (endpoint, event_id, kind, conversation_id, event_at, next_at)
                     values (?1, ?2, ?3, ?4, ?5, ?6)
                     on conflict (endpoint, event_id) do nothing",
                )?;
                for (id, kind, conversation, at) in &rows {
                    insert.execute(params![endpoint, id, kind, conversation, at, now])?;
                }
                conn.prepare_cached(
                    "insert into event_cursors (endpoint, last_event_id) values (?1, ?2)
                     on conflict (endpoint) do update
                     set last_event_id = max(last_event_id, excluded.last_event_id)",
                )?
                .execute(params![endpoint, through])?;
                Ok(())
            })
            .await
    }

    async fn claim_deliveries(
        &self,
        endpoint: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let (endpoint, owner) = (endpoint.to_string(), owner.to_string());
        let (now, until, limit) = (micros(now), micros(lease_until), claim_limit(limit));
        let rows = self
            .writer
            .run(move |conn| {
                let rows = conn
                    .prepare_cached(CLAIM)?
                    .query_map(params![endpoint, now, limit], |r| {
                        Ok((r.get::<_, Id>(0)?, r.get::<_, i64>(1)?, {
                            let cols: EventCols = (
                                r.get(2)?,
                                r.get(3)?,
                                r.get(4)?,
                                r.get(5)?,
                                r.get(6)?,
                                r.get(7)?,
                            );
                            cols
                        }))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let mut lease = conn.prepare_cached(
                    "update event_deliveries set lease_owner = ?2, lease_until = ?3 where id = ?1",
                )?;
                for (id, _, _) in &rows {
                    lease.execute(params![id, owner, until])?;
                }
                Ok(rows)
            })
            .await?;
        rows.into_iter()
            .map(|(id, attempts, cols)| {
                Ok(ClaimedDelivery {
                    id,
                    attempts,
                    event: event(cols)?,
                })
            })
            .collect()
    }

    async fn finish_delivery(
        &self,
        id: Id,
        owner: &str,
        result: &DeliveryResult,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (state, status, error, next_at, delivered) = result_columns(result);
        let error = error.map(str::to_string);
        let owner = owner.to_string();
        let now = micros(now);
        let next_at = next_at.map(micros);
        let delivered_at = delivered.then_some(now);
        self.writer
            .run(move |conn| {
                let n = conn
                    .prepare_cached(
                        "update event_deliveries
                         set state = ?3, attempts = attempts + 1, last_attempt_at = ?4,
                             last_status = ?5, last_error = ?6, next_at = coalesce(?7, next_at),
                             delivered_at = ?8, lease_owner = null, lease_until = null
                         where id = ?1 and lease_owner = ?2 and state = 'pending'",
                    )?
                    .execute(params![
                        id,
                        owner,
                        state,
                        now,
                        status,
                        error,
                        next_at,
                        delivered_at
                    ])?;
                Ok(n == 1)
            })
            .await
    }

    async fn deliveries(&self, f: &DeliveryFilter) -> StoreResult<Vec<Delivery>> {
        let rows: Vec<DeliveryCols<i64>> = sqlx::query_as(&log_query(|i| format!("?{i}")))
            .bind(f.endpoint.as_deref())
            .bind(f.state.map(|s| s.as_str()))
            .bind(f.kind.map(|k| k.as_str()))
            .bind(f.conversation_id)
            .bind(f.event_id)
            .bind(f.before)
            .bind(log_limit(f.limit))
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter()
            .map(|c| {
                delivery((
                    c.0,
                    c.1,
                    c.2,
                    c.3,
                    c.4,
                    time(c.5)?,
                    c.6,
                    c.7,
                    time(c.8)?,
                    opt_time(c.9)?,
                    c.10,
                    c.11,
                    opt_time(c.12)?,
                ))
            })
            .collect()
    }

    async fn out_event(&self, id: Id) -> StoreResult<Option<OutEvent>> {
        let row: Option<EventCols> = sqlx::query_as(
            "select id, kind, at, conversation_id, sender_id, data from events_out where id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.reader)
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
             set state = 'pending', attempts = 0, next_at = ?2, lease_owner = null,
                 lease_until = null, delivered_at = null
             where endpoint = ?1";
        let endpoint = endpoint.to_string();
        let selection = selection.clone();
        let now = micros(now);
        self.writer
            .run(move |conn| {
                let n = match &selection {
                    ReplaySelection::Ids(ids) => {
                        let mut reset = conn.prepare(&format!("{RESET} and id = ?3"))?;
                        let mut n = 0;
                        for id in ids {
                            n += reset.execute(params![endpoint, now, id])?;
                        }
                        n
                    }
                    ReplaySelection::Parked { since, until } => conn
                        .prepare(&format!(
                            "{RESET} and state = 'parked'
                             and (?3 is null or event_at >= ?3) and (?4 is null or event_at < ?4)"
                        ))?
                        .execute(params![endpoint, now, since.map(micros), until.map(micros)])?,
                };
                Ok(n as u64)
            })
            .await
    }
}
