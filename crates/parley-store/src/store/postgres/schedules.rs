//! System events, schedule fires and the queries guards need, on PostgreSQL. Fires are
//! claimed under `skip locked`, so with several processes each fire has one runner.

use super::PgStore;
use crate::domain::{EventKind, TimerFire};
use crate::store::shared_reads::for_postgres as shared;
use crate::store::{AudienceRow, Id, NewEvent, ScheduleFire, Schedules, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Postgres, Row, Transaction};
use std::time::Duration;

fn until(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::days(1))
}

#[async_trait]
impl Schedules for PgStore {
    async fn insert_events(&self, events: &[NewEvent]) -> StoreResult<Vec<Option<Id>>> {
        let mut tx = self.pool.begin().await?;
        let ids = insert_events(&mut tx, events).await?;
        tx.commit().await?;
        Ok(ids)
    }

    async fn last_schedule_fire(&self, flow_id: &str) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(
            sqlx::query_scalar("select max(fire_at) from schedule_fires where flow_id = $1")
                .bind(flow_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn record_schedule_fire(
        &self,
        flow_id: &str,
        fire_at: DateTime<Utc>,
        anchor: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "insert into schedule_fires (flow_id, fire_at, anchor, created_at, done_at)
             values ($1, $2, $3, $4, $5) on conflict (flow_id, fire_at) do nothing",
        )
        .bind(flow_id)
        .bind(fire_at)
        .bind(anchor)
        .bind(now)
        .bind(anchor.then_some(now))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn claim_schedule_fire(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<Option<ScheduleFire>> {
        let row = sqlx::query(
            "update schedule_fires set lease_owner = $1, lease_until = $2
             where id = (select id from schedule_fires
                         where done_at is null and not anchor and (lease_until is null or lease_until <= $3)
                         order by id limit 1 for update skip locked)
             returning id, flow_id, fire_at, cursor",
        )
        .bind(owner)
        .bind(until(now, lease))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ScheduleFire {
                id: r.try_get("id")?,
                flow_id: r.try_get("flow_id")?,
                fire_at: r.try_get("fire_at")?,
                cursor: r.try_get("cursor")?,
            })
        })
        .transpose()
    }

    async fn schedule_progress(
        &self,
        fire_id: Id,
        owner: &str,
        cursor: Id,
        events: &[NewEvent],
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query(
            "update schedule_fires set cursor = $3, enqueued = enqueued + $4, lease_until = $5
             where id = $1 and lease_owner = $2 and lease_until > $6 and done_at is null",
        )
        .bind(fire_id)
        .bind(owner)
        .bind(cursor)
        .bind(events.len() as i64)
        .bind(until(now, lease))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::LeaseLost {
                what: "schedule fire",
                id: fire_id,
            });
        }
        insert_events(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn finish_schedule_fire(
        &self,
        fire_id: Id,
        owner: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let r = sqlx::query(
            "update schedule_fires set done_at = $3, lease_owner = null, lease_until = null
             where id = $1 and lease_owner = $2 and done_at is null",
        )
        .bind(fire_id)
        .bind(owner)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::LeaseLost {
                what: "schedule fire",
                id: fire_id,
            });
        }
        Ok(())
    }

    async fn audience_page(
        &self,
        sender_id: i64,
        after: Id,
        limit: i64,
    ) -> StoreResult<Vec<AudienceRow>> {
        shared::audience_page(&self.pool, sender_id, after, limit).await
    }

    async fn backlog(&self, sender_id: i64) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "select (select count(*) from conversation_events where sender_id = $1 and processed_at is null)
                  + (select count(*) from outbound_messages where sender_id = $1 and status = 'queued')",
        )
        .bind(sender_id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn templates_sent_since(&self, sender_id: i64, since: DateTime<Utc>) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "select count(*) from outbound_messages
             where sender_id = $1 and updated_at >= $2
               and status in ('accepted', 'sent', 'delivered', 'read')
               and payload -> 'content' ->> 'kind' = 'template'",
        )
        .bind(sender_id)
        .bind(since)
        .fetch_one(&self.pool)
        .await?)
    }
}

async fn insert_events(
    tx: &mut Transaction<'static, Postgres>,
    events: &[NewEvent],
) -> StoreResult<Vec<Option<Id>>> {
    let mut ids = Vec::with_capacity(events.len());
    for e in events {
        let kind = EventKind::Timer(TimerFire {
            timer_id: 0,
            timer: e.event.clone(),
            due_at: e.now,
        });
        let id: Option<Id> = sqlx::query_scalar(
            "insert into conversation_events (conversation_id, sender_id, provider_message_id, kind, payload, received_at)
             values ($1, $2, $3, 'timer', $4, $5)
             on conflict (sender_id, provider_message_id) do nothing
             returning id",
        )
        .bind(e.conversation_id)
        .bind(e.sender_id)
        .bind(&e.dedupe_key)
        .bind(Json(&kind))
        .bind(e.now)
        .fetch_optional(&mut **tx)
        .await?;
        if id.is_some() {
            sqlx::query("update conversations set has_work = true, work_since = coalesce(work_since, $2) where id = $1")
                .bind(e.conversation_id)
                .bind(e.now)
                .execute(&mut **tx)
                .await?;
        }
        ids.push(id);
    }
    Ok(ids)
}
