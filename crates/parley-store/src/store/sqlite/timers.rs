//! Durable timers on SQLite: a due timer is deleted and becomes a `Timer` event of its
//! conversation in the same transaction, so it fires exactly once.

use super::rows::{from_text, json_text, micros, opt_time, time};
use super::SqliteStore;
use crate::domain::{EventKind, Timer, TimerFire};
use crate::store::{StoreResult, Timers};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;

#[async_trait]
impl Timers for SqliteStore {
    async fn fire_due_timers(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<u64> {
        let now = micros(now);
        self.writer
            .run(move |conn| {
                let mut fired = conn
                    .prepare_cached(
                        "delete from timers
                         where id in (select id from timers where due_at <= ?1
                                      order by due_at, id limit ?2)
                         returning id, conversation_id, purpose, due_at, payload",
                    )?
                    .query_map(params![now, limit], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, String>(4)?,
                        ))
                    })?
                    .map(|row| {
                        let (timer_id, conversation_id, purpose, due_at, payload) = row?;
                        let fire = TimerFire {
                            timer_id,
                            timer: Timer::from_row(
                                &purpose,
                                &from_text("timer payload", &payload)?,
                            ),
                            due_at: time(due_at)?,
                        };
                        Ok((conversation_id, fire))
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                fired.sort_by_key(|(_, fire)| (fire.due_at, fire.timer_id));

                let count = fired.len() as u64;
                for (conversation_id, fire) in fired {
                    conn.prepare_cached(
                        "insert into conversation_events
                             (conversation_id, sender_id, kind, payload, received_at)
                         select id, sender_id, 'timer', ?2, ?3 from conversations where id = ?1",
                    )?
                    .execute(params![
                        conversation_id,
                        json_text("event", &EventKind::Timer(fire))?,
                        now
                    ])?;
                    conn.prepare_cached(
                        "update conversations set has_work = 1,
                             work_since = coalesce(work_since, ?2)
                         where id = ?1",
                    )?
                    .execute(params![conversation_id, now])?;
                }
                Ok(count)
            })
            .await
    }

    async fn next_timer_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let due: Option<i64> = sqlx::query_scalar("select min(due_at) from timers")
            .fetch_one(&self.reader)
            .await?;
        opt_time(due)
    }
}
