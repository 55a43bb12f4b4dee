//! Durable timers on SQLite: a due timer is deleted and becomes a `Timer` event of its
//! conversation in the same transaction, so it fires exactly once.

use super::rows::{from_text, json_text, micros, opt_time, time};
use super::SqliteStore;
use crate::store::{EventKind, StoreResult, TimerFire};
use chrono::{DateTime, Utc};
use sqlx::Row;

impl SqliteStore {
    pub(super) async fn fire_timers(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<u64> {
        let now = micros(now);
        let mut tx = self.write().await?;
        let rows = sqlx::query(
            "delete from timers
             where id in (select id from timers where due_at <= $1 order by due_at, id limit $2)
             returning id, conversation_id, purpose, due_at, payload",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut fired = rows
            .iter()
            .map(|row| {
                let fire = TimerFire {
                    timer_id: row.try_get("id")?,
                    purpose: row.try_get("purpose")?,
                    payload: from_text("timer payload", row.try_get("payload")?)?,
                    due_at: time(row.try_get("due_at")?)?,
                };
                Ok((row.try_get::<i64, _>("conversation_id")?, fire))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        fired.sort_by_key(|(_, fire)| (fire.due_at, fire.timer_id));

        let count = fired.len() as u64;
        for (conversation_id, fire) in fired {
            sqlx::query(
                "insert into conversation_events (conversation_id, sender_id, kind, payload, received_at)
                 select id, sender_id, 'timer', $2, $3 from conversations where id = $1",
            )
            .bind(conversation_id)
            .bind(json_text("event", &EventKind::Timer(fire))?)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "update conversations set has_work = 1, work_since = coalesce(work_since, $2)
                 where id = $1",
            )
            .bind(conversation_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(count)
    }

    pub(super) async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let due: Option<i64> = sqlx::query_scalar("select min(due_at) from timers")
            .fetch_one(&self.reader)
            .await?;
        opt_time(due)
    }
}
