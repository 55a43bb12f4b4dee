//! System events, schedule fires and the queries guards need, on SQLite.

use super::rows::{json_text, micros, opt_time, time};
use super::statements::Conn;
use super::SqliteStore;
use crate::domain::{EventKind, TimerFire};
use crate::store::shared_reads::for_sqlite as shared;
use crate::store::{AudienceRow, Id, NewEvent, ScheduleFire, Schedules, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use std::time::Duration;

fn until(now: DateTime<Utc>, lease: Duration) -> i64 {
    micros(now) + i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 2)
}

#[async_trait]
impl Schedules for SqliteStore {
    async fn insert_events(&self, events: &[NewEvent]) -> StoreResult<Vec<Option<Id>>> {
        let rows = event_rows(events)?;
        self.writer
            .run(move |conn| insert_events(conn, &rows))
            .await
    }

    async fn last_schedule_fire(&self, flow_id: &str) -> StoreResult<Option<DateTime<Utc>>> {
        let flow_id = flow_id.to_owned();
        let at: Option<i64> = self
            .writer
            .run(move |conn| {
                Ok(conn
                    .prepare_cached("select max(fire_at) from schedule_fires where flow_id = ?1")?
                    .query_row([flow_id], |r| r.get(0))?)
            })
            .await?;
        opt_time(at)
    }

    async fn record_schedule_fire(
        &self,
        flow_id: &str,
        fire_at: DateTime<Utc>,
        anchor: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let flow_id = flow_id.to_owned();
        let done = anchor.then_some(micros(now));
        let (fire_at, now) = (micros(fire_at), micros(now));
        self.writer
            .run(move |conn| {
                let n = conn
                    .prepare_cached(
                        "insert into schedule_fires (flow_id, fire_at, anchor, created_at, done_at)
                         values (?1, ?2, ?3, ?4, ?5) on conflict (flow_id, fire_at) do nothing",
                    )?
                    .execute(params![flow_id, fire_at, anchor, now, done])?;
                Ok(n == 1)
            })
            .await
    }

    async fn claim_schedule_fire(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<Option<ScheduleFire>> {
        let owner = owner.to_owned();
        let until = until(now, lease);
        let now = micros(now);
        let row = self
            .writer
            .run(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "update schedule_fires set lease_owner = ?1, lease_until = ?2
                         where id = (select id from schedule_fires
                                     where done_at is null and anchor = 0
                                       and (lease_until is null or lease_until <= ?3)
                                     order by id limit 1)
                         returning id, flow_id, fire_at, cursor",
                    )?
                    .query_row(params![owner, until, now], |r| {
                        Ok((
                            r.get::<_, Id>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, Id>(3)?,
                        ))
                    })
                    .optional()?)
            })
            .await?;
        row.map(|(id, flow_id, fire_at, cursor)| {
            Ok(ScheduleFire {
                id,
                flow_id,
                fire_at: time(fire_at)?,
                cursor,
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
        let owner = owner.to_owned();
        let rows = event_rows(events)?;
        let until = until(now, lease);
        let now = micros(now);
        self.writer
            .run(move |conn| {
                let n = conn
                    .prepare_cached(
                        "update schedule_fires set cursor = ?3, enqueued = enqueued + ?4,
                             lease_until = ?5
                         where id = ?1 and lease_owner = ?2 and lease_until > ?6
                           and done_at is null",
                    )?
                    .execute(params![
                        fire_id,
                        owner,
                        cursor,
                        rows.len() as i64,
                        until,
                        now
                    ])?;
                if n == 0 {
                    return Err(StoreError::LeaseLost {
                        what: "schedule fire",
                        id: fire_id,
                    });
                }
                insert_events(conn, &rows)?;
                Ok(())
            })
            .await
    }

    async fn finish_schedule_fire(
        &self,
        fire_id: Id,
        owner: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let owner = owner.to_owned();
        let now = micros(now);
        self.writer
            .run(move |conn| {
                let n = conn
                    .prepare_cached(
                        "update schedule_fires set done_at = ?3, lease_owner = null,
                             lease_until = null
                         where id = ?1 and lease_owner = ?2 and done_at is null",
                    )?
                    .execute(params![fire_id, owner, now])?;
                if n == 0 {
                    return Err(StoreError::LeaseLost {
                        what: "schedule fire",
                        id: fire_id,
                    });
                }
                Ok(())
            })
            .await
    }

    async fn audience_page(
        &self,
        sender_id: i64,
        after: Id,
        limit: i64,
    ) -> StoreResult<Vec<AudienceRow>> {
        shared::audience_page(&self.reader, sender_id, after, limit).await
    }

    async fn backlog(&self, sender_id: i64) -> StoreResult<i64> {
        let n: i64 = sqlx::query_scalar(
            // Through the indexes of waiting rows only: left alone, SQLite walked the sender's
            // whole history of messages.
            "select (select count(*) from conversation_events indexed by conversation_events_pending
                     where sender_id = $1 and processed_at is null)
                  + (select count(*) from outbound_messages indexed by outbound_messages_ready
                     where sender_id = $1 and status = 'queued')",
        )
        .bind(sender_id)
        .fetch_one(&self.reader)
        .await?;
        Ok(n)
    }

    async fn templates_sent_since(&self, sender_id: i64, since: DateTime<Utc>) -> StoreResult<i64> {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from outbound_messages
             where sender_id = $1 and updated_at >= $2
               and status in ('accepted', 'sent', 'delivered', 'read')
               and json_extract(payload, '$.content.kind') = 'template'",
        )
        .bind(sender_id)
        .bind(micros(since))
        .fetch_one(&self.reader)
        .await?;
        Ok(n)
    }
}

/// A system event serialised for insertion.
struct EventRow {
    conversation_id: Id,
    sender_id: i64,
    dedupe_key: Option<String>,
    payload: String,
    now: i64,
}

fn event_rows(events: &[NewEvent]) -> StoreResult<Vec<EventRow>> {
    events
        .iter()
        .map(|e| {
            let kind = EventKind::Timer(TimerFire {
                timer_id: 0,
                timer: e.event.clone(),
                due_at: e.now,
            });
            Ok(EventRow {
                conversation_id: e.conversation_id,
                sender_id: e.sender_id,
                dedupe_key: e.dedupe_key.clone(),
                payload: json_text("event", &kind)?,
                now: micros(e.now),
            })
        })
        .collect()
}

fn insert_events(conn: &Conn<'_>, events: &[EventRow]) -> StoreResult<Vec<Option<Id>>> {
    let mut ids = Vec::with_capacity(events.len());
    for e in events {
        let id: Option<Id> = conn
            .prepare_cached(
                "insert into conversation_events
                     (conversation_id, sender_id, provider_message_id, kind, payload, received_at)
                 values (?1, ?2, ?3, 'timer', ?4, ?5)
                 on conflict (sender_id, provider_message_id) do nothing
                 returning id",
            )?
            .query_row(
                params![
                    e.conversation_id,
                    e.sender_id,
                    e.dedupe_key,
                    e.payload,
                    e.now
                ],
                |r| r.get(0),
            )
            .optional()?;
        if id.is_some() {
            conn.prepare_cached(
                "update conversations set has_work = 1, work_since = coalesce(work_since, ?2)
                 where id = ?1",
            )?
            .execute(params![e.conversation_id, e.now])?;
        }
        ids.push(id);
    }
    Ok(ids)
}
