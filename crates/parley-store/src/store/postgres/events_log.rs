//! `EventsLog` on PostgreSQL: events are inserted by the transaction (or the batched
//! statement) of the change they tell of through `insert_events` (one statement over
//! arrays), or by a transaction of their own (`record_events`).

use super::PgStore;
use crate::domain::{Id, NewOutEvent, OutEvent};
use crate::store::events_log::{bounded, logged};
use crate::store::{EventsLog, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Inserts `events`, in order, with one statement on `conn` (inside the caller's
/// transaction).
pub(super) async fn insert_events(
    conn: &mut sqlx::PgConnection,
    events: &[NewOutEvent],
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let (kinds, ats, conversations, senders, data) = columns(events);
    sqlx::query(INSERT_EVENTS)
        .bind(kinds)
        .bind(ats)
        .bind(conversations)
        .bind(senders)
        .bind(data)
        .execute(conn)
        .await?;
    Ok(())
}

/// The statement inserting events given as arrays ($1 kinds, $2 times, $3 conversations,
/// $4 senders, $5 data), in the arrays' order (ids follow it).
pub(super) const INSERT_EVENTS: &str =
    "insert into events_out (kind, at, conversation_id, sender_id, data)
     select kind, at, conversation_id, sender_id, data
     from unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::jsonb[])
          with ordinality as e(kind, at, conversation_id, sender_id, data, n)
     order by n";

/// Events as the arrays of `INSERT_EVENTS`.
#[allow(clippy::type_complexity)]
pub(super) fn columns(
    events: &[NewOutEvent],
) -> (
    Vec<&'static str>,
    Vec<DateTime<Utc>>,
    Vec<Option<Id>>,
    Vec<Option<i64>>,
    Vec<Value>,
) {
    (
        events.iter().map(|e| e.kind.as_str()).collect(),
        events.iter().map(|e| e.at).collect(),
        events.iter().map(|e| e.conversation_id).collect(),
        events.iter().map(|e| e.sender_id).collect(),
        events.iter().map(|e| e.data.clone()).collect(),
    )
}

/// Tells of outbound message `id` in the caller's transaction: `message.sent` (`status`
/// `None`: the provider accepted it) or `message.status` with `status`.
pub(super) async fn tell_outbound(
    conn: &mut sqlx::PgConnection,
    id: Id,
    status: Option<&str>,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    use crate::domain::out_event_data::{message_sent, message_status, Place, SentRow};
    type Cols = (
        Id,
        i64,
        Value,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
        Id,
        String,
        Option<String>,
        Option<String>,
    );
    let row: Option<Cols> = sqlx::query_as(
        "select o.conversation_id, o.sender_id, o.payload, o.origin, o.flow, o.step,
                o.provider_message_id, o.error_code, o.error_title, c.id, c.key, c.name, c.bsuid
         from outbound_messages o
         join conversations v on v.id = o.conversation_id
         join contacts c on c.id = v.contact_id
         where o.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((
        conversation_id,
        sender_id,
        payload,
        origin,
        flow,
        step,
        provider,
        code,
        title,
        cid,
        key,
        name,
        bsuid,
    )) = row
    else {
        return Ok(());
    };
    let row = SentRow {
        outbound_id: id,
        provider_message_id: provider,
        origin,
        flow,
        step,
        payload,
        error_code: code,
        error_title: title,
        contact: (cid, key, name, bsuid),
    };
    let place = Place {
        conversation_id: Some(conversation_id),
        sender_id: Some(sender_id),
        at,
    };
    let event = match status {
        None => message_sent(&place, &row),
        Some(status) => message_status(&place, &row, status),
    };
    insert_events(conn, &[event]).await
}

/// Tells `contact.created` (`via` what) in the caller's transaction if contact
/// `contact_id` was created at `now` (by the caller: its `created_at` is the caller's time).
pub(super) async fn tell_contact_created(
    conn: &mut sqlx::PgConnection,
    contact_id: Id,
    conversation: (Option<Id>, Option<i64>),
    now: DateTime<Utc>,
    via: &str,
) -> StoreResult<()> {
    use crate::domain::out_event_data::{bare_contact, contact_created, Place};
    let row: Option<(String, Option<String>, Option<String>)> =
        sqlx::query_as("select key, name, bsuid from contacts where id = $1 and created_at = $2")
            .bind(contact_id)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((key, name, bsuid)) = row else {
        return Ok(());
    };
    let place = Place {
        conversation_id: conversation.0,
        sender_id: conversation.1,
        at: now,
    };
    let who = bare_contact(contact_id, &key, name, bsuid);
    insert_events(conn, &[contact_created(&place, &who, via)]).await
}

/// Tells `broadcast.finished` of broadcast `id` in the caller's transaction.
pub(super) async fn tell_broadcast_finished(
    conn: &mut sqlx::PgConnection,
    id: Id,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    use crate::store::events_log::{
        broadcast_finished, FinishedBroadcast, FINISHED_BROADCAST, FINISHED_COUNTS,
    };
    let (name, sender_id, template_name, language): (String, i64, String, String) =
        sqlx::query_as(FINISHED_BROADCAST)
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    let counts: Vec<(String, Option<String>, i64)> = sqlx::query_as(FINISHED_COUNTS)
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    let b = FinishedBroadcast {
        id,
        name,
        sender_id,
        template: (template_name, language),
        counts,
    };
    insert_events(conn, &[broadcast_finished(&b, now)]).await
}

#[async_trait]
impl EventsLog for PgStore {
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
        let mut conn = self.pool.acquire().await?;
        insert_events(&mut conn, events).await
    }

    async fn logged_events(&self, after: Id, limit: i64) -> StoreResult<Vec<OutEvent>> {
        let rows: Vec<(Id, String, DateTime<Utc>, Option<Id>, Option<i64>, Value)> =
            sqlx::query_as(
                "select id, kind, at, conversation_id, sender_id, data from events_out
                 where id > $1 order by id limit $2",
            )
            .bind(after)
            .bind(bounded(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|(id, kind, at, conversation_id, sender_id, data)| {
                logged((id, kind, conversation_id, sender_id), at, data)
            })
            .collect()
    }
}
