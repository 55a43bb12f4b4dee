//! Durable timers on PostgreSQL: due timers are deleted under `skip locked` and become
//! `Timer` events of their conversations in the same transaction, so with any number of
//! processes each timer fires exactly once.

use super::rows::json;
use super::PgStore;
use crate::domain::{EventKind, Timer, TimerFire};
use crate::store::{StoreResult, Timers};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::Row;

#[async_trait]
impl Timers for PgStore {
    async fn fire_due_timers(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "delete from timers
             where id in (select id from timers where due_at <= $1
                          order by due_at, id
                          limit $2
                          for update skip locked)
             returning id, conversation_id, purpose, due_at, payload",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut fired = rows
            .iter()
            .map(|row| {
                let fire = TimerFire {
                    timer_id: row.try_get("id")?,
                    timer: Timer::from_row(
                        row.try_get::<&str, _>("purpose")?,
                        &json(row, "payload")?,
                    ),
                    due_at: row.try_get("due_at")?,
                };
                Ok((row.try_get::<i64, _>("conversation_id")?, fire))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        fired.sort_by_key(|(_, fire)| (fire.due_at, fire.timer_id));

        // Conversations are locked in id order, so two processes firing timers of the same
        // conversations queue instead of deadlocking.
        let mut conversations: Vec<i64> = fired.iter().map(|(id, _)| *id).collect();
        conversations.sort_unstable();
        conversations.dedup();
        sqlx::query(
            "select id from conversations where id = any($1) order by id for no key update",
        )
        .bind(&conversations)
        .execute(&mut *tx)
        .await?;

        let count = fired.len() as u64;
        let (targets, events): (Vec<i64>, Vec<Json<EventKind>>) = fired
            .into_iter()
            .map(|(conversation_id, fire)| (conversation_id, Json(EventKind::Timer(fire))))
            .unzip();
        sqlx::query(
            "with event as (
                 insert into conversation_events (conversation_id, sender_id, kind, payload, received_at)
                 select c.id, c.sender_id, 'timer', t.payload, $3
                 from unnest($1::bigint[], $2::jsonb[]) with ordinality as t(conversation_id, payload, n)
                 join conversations c on c.id = t.conversation_id
                 order by t.n
                 returning conversation_id
             )
             update conversations set has_work = true, work_since = coalesce(work_since, $3)
             where id in (select conversation_id from event)",
        )
        .bind(targets)
        .bind(events)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(count)
    }

    async fn next_timer_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(sqlx::query_scalar("select min(due_at) from timers")
            .fetch_one(&self.pool)
            .await?)
    }
}
