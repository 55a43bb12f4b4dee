//! `EventsLog` on SQLite: events are inserted on the writer thread by the job of the change
//! they tell of (`insert_events`, one cached statement, one insert per event), or by a job
//! of their own (`record_events`).

use super::rows::{micros, time};
use super::statements::Conn;
use super::SqliteStore;
use crate::domain::{Id, NewOutEvent, OutEvent};
use crate::store::events_log::{bounded, logged};
use crate::store::{EventsLog, StoreError, StoreResult};
use async_trait::async_trait;
use rusqlite::params;

const INSERT_EVENT: &str = "insert into events_out (kind, at, conversation_id, sender_id, data)
     values (?1, ?2, ?3, ?4, ?5)";

/// Inserts `events` in the transaction of the job running on `conn`.
pub(super) fn insert_events(conn: &Conn<'_>, events: &[NewOutEvent]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(INSERT_EVENT)?;
    for e in events {
        insert.execute(params![
            e.kind.as_str(),
            micros(e.at),
            e.conversation_id,
            e.sender_id,
            e.data.to_string()
        ])?;
    }
    Ok(())
}

/// An outbound message with its contact, for `message.sent` and `message.status`.
pub(super) const SENT_ROW: &str =
    "select o.conversation_id, o.sender_id, o.payload, o.origin, o.flow, o.step,
            o.provider_message_id, o.error_code, o.error_title, c.id, c.key, c.name, c.bsuid
     from outbound_messages o
     join conversations v on v.id = o.conversation_id
     join contacts c on c.id = v.contact_id
     where o.id = ?1";

/// Tells of outbound message `id` in the job's transaction: `message.sent` (`status`
/// `None`: the provider accepted it) or `message.status` with `status`.
pub(super) fn tell_outbound(
    conn: &Conn<'_>,
    id: Id,
    status: Option<&str>,
    at: i64,
) -> StoreResult<()> {
    use crate::domain::out_event_data::{message_sent, message_status, Place, SentRow};
    use rusqlite::OptionalExtension;
    let row = conn
        .prepare_cached(SENT_ROW)?
        .query_row([id], |r| {
            Ok((
                r.get::<_, Id>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                SentRow {
                    outbound_id: id,
                    origin: r.get(3)?,
                    flow: r.get(4)?,
                    step: r.get(5)?,
                    provider_message_id: r.get(6)?,
                    error_code: r.get(7)?,
                    error_title: r.get(8)?,
                    payload: serde_json::Value::Null,
                    contact: (r.get(9)?, r.get(10)?, r.get(11)?, r.get(12)?),
                },
            ))
        })
        .optional()?;
    let Some((conversation_id, sender_id, payload, mut row)) = row else {
        return Ok(());
    };
    row.payload = serde_json::from_str(&payload).unwrap_or_default();
    let place = Place {
        conversation_id: Some(conversation_id),
        sender_id: Some(sender_id),
        at: time(at)?,
    };
    let event = match status {
        None => message_sent(&place, &row),
        Some(status) => message_status(&place, &row, status),
    };
    insert_events(conn, &[event])
}

/// Tells `contact.created` (`via` what) in the job's transaction if contact `contact_id` was
/// created at `now` (by the job calling this: its `created_at` is the job's time).
pub(super) fn tell_contact_created(
    conn: &Conn<'_>,
    contact_id: Id,
    conversation: (Option<Id>, Option<i64>),
    now: i64,
    via: &str,
) -> StoreResult<()> {
    use crate::domain::out_event_data::{bare_contact, contact_created, Place};
    use rusqlite::OptionalExtension;
    let row: Option<(String, Option<String>, Option<String>, i64)> = conn
        .prepare_cached("select key, name, bsuid, created_at from contacts where id = ?1")?
        .query_row([contact_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((key, name, bsuid, created_at)) = row.filter(|r| r.3 == now) else {
        return Ok(());
    };
    let _ = created_at;
    let place = Place {
        conversation_id: conversation.0,
        sender_id: conversation.1,
        at: time(now)?,
    };
    let who = bare_contact(contact_id, &key, name, bsuid);
    insert_events(conn, &[contact_created(&place, &who, via)])
}

/// Tells `broadcast.finished` of broadcast `id` in the job's transaction.
pub(super) fn tell_broadcast_finished(conn: &Conn<'_>, id: Id, now: i64) -> StoreResult<()> {
    use crate::store::events_log::{
        broadcast_finished, FinishedBroadcast, FINISHED_BROADCAST, FINISHED_COUNTS,
    };
    let (name, sender_id, template_name, language) = conn
        .prepare_cached(FINISHED_BROADCAST)?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    let counts = conn
        .prepare_cached(FINISHED_COUNTS)?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let b = FinishedBroadcast {
        id,
        name,
        sender_id,
        template: (template_name, language),
        counts,
    };
    insert_events(conn, &[broadcast_finished(&b, time(now)?)])
}

#[async_trait]
impl EventsLog for SqliteStore {
    fn record_events_from_now(&self) {
        self.events.start();
    }

    fn records_events(&self) -> bool {
        self.events.on()
    }

    async fn record_events(&self, events: &[NewOutEvent]) -> StoreResult<()> {
        if !self.events.on() || events.is_empty() {
            return Ok(());
        }
        let events = events.to_vec();
        self.writer
            .run(move |conn| insert_events(conn, &events))
            .await
    }

    async fn logged_events(&self, after: Id, limit: i64) -> StoreResult<Vec<OutEvent>> {
        let rows: Vec<(Id, String, i64, Option<Id>, Option<i64>, String)> = sqlx::query_as(
            "select id, kind, at, conversation_id, sender_id, data from events_out
             where id > ?1 order by id limit ?2",
        )
        .bind(after)
        .bind(bounded(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(id, kind, at, conversation_id, sender_id, data)| {
                let data = serde_json::from_str(&data)
                    .map_err(|e| StoreError::Corrupt(format!("event {id}'s data: {e}")))?;
                logged((id, kind, conversation_id, sender_id), time(at)?, data)
            })
            .collect()
    }
}
