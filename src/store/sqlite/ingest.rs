//! Webhook ingress on SQLite: a batch of messages and statuses in one write job.

use super::inbox::upsert_contact;
use super::outbox::insert_outbound;
use super::rows::{from_text, json_text, micros, time};
use super::SqliteStore;
use crate::domain::EventKind;
use crate::domain::{OutboundMessage, StatusUpdate, WindowFallback};
use crate::store::apply::{self, status_change, window_fallback};
use crate::store::{IngestItem, IngestOutcome, StoreResult};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

impl SqliteStore {
    pub(super) async fn ingest_batch(
        &self,
        items: &[IngestItem],
    ) -> StoreResult<Vec<IngestOutcome>> {
        // Everything that needs no database is done here, off the writer thread.
        let items = items
            .iter()
            .map(|item| {
                Ok(match item {
                    IngestItem::Message {
                        sender_id,
                        message,
                        received_at,
                    } => Prepared::Message(NewMessage {
                        sender_id: *sender_id,
                        provider_message_id: message.provider_message_id.clone(),
                        contact_key: message.from.key(),
                        profile_name: message.profile_name.clone(),
                        inbound_at: micros(message.timestamp.unwrap_or(*received_at)),
                        received_at: micros(*received_at),
                        payload: json_text("event", &EventKind::Message(message.clone()))?,
                    }),
                    IngestItem::Status {
                        sender_id,
                        status,
                        received_at,
                    } => Prepared::Status(*sender_id, status.clone(), *received_at),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.writer
            .run(move |conn| {
                items
                    .iter()
                    .map(|item| match item {
                        Prepared::Message(message) => ingest_message(conn, message),
                        Prepared::Status(sender_id, status, received_at) => {
                            ingest_status(conn, *sender_id, status, *received_at)
                        }
                    })
                    .collect()
            })
            .await
    }
}

enum Prepared {
    Message(NewMessage),
    Status(i64, StatusUpdate, DateTime<Utc>),
}

struct NewMessage {
    sender_id: i64,
    provider_message_id: String,
    contact_key: String,
    profile_name: Option<String>,
    inbound_at: i64,
    received_at: i64,
    payload: String,
}

fn ingest_message(conn: &Connection, m: &NewMessage) -> StoreResult<IngestOutcome> {
    // Checked first so a duplicate touches neither the contact nor the conversation. This
    // connection is the only writer, so nothing can slip in between.
    let seen: bool = conn
        .prepare_cached(
            "select exists (select 1 from conversation_events
                            where sender_id = ?1 and provider_message_id = ?2)",
        )?
        .query_row(params![m.sender_id, m.provider_message_id], |r| r.get(0))?;
    if seen {
        return Ok(IngestOutcome::Duplicate);
    }

    let now = m.received_at;
    let contact_id = upsert_contact(conn, &m.contact_key, m.profile_name.as_deref(), now)?;
    let conversation_id: i64 = conn
        .prepare_cached(
            "insert into conversations
                 (sender_id, contact_id, last_inbound_at, has_work, work_since, created_at)
             values (?1, ?2, ?3, 1, ?4, ?4)
             on conflict (sender_id, contact_id) do update set
                 last_inbound_at = max(coalesce(conversations.last_inbound_at, excluded.last_inbound_at),
                                       excluded.last_inbound_at),
                 has_work = 1,
                 work_since = coalesce(conversations.work_since, excluded.work_since)
             returning id",
        )?
        .query_row(params![m.sender_id, contact_id, m.inbound_at, now], |r| {
            r.get(0)
        })?;

    let event_id: i64 = conn
        .prepare_cached(
            "insert into conversation_events
                 (conversation_id, sender_id, provider_message_id, kind, payload, received_at)
             values (?1, ?2, ?3, 'message', ?4, ?5)
             returning id",
        )?
        .query_row(
            params![
                conversation_id,
                m.sender_id,
                m.provider_message_id,
                m.payload,
                now
            ],
            |r| r.get(0),
        )?;
    Ok(IngestOutcome::Stored {
        event_id,
        conversation_id,
    })
}

/// What a status needs of the outbound message it is about.
struct StatusTarget {
    id: i64,
    conversation_id: i64,
    status: String,
    payload: String,
    fallback: String,
}

/// A queued send with no provider id becomes accepted under the provider id a status names
/// it by (see `StatusUpdate::outbox_id`). Also while the attempt is still in flight: its
/// outcome, when written, leaves the status alone unless the provider refused it, and an
/// accepted send is never claimed again.
const ADOPT_SEND: &str = "update outbound_messages
    set provider_message_id = ?1, status = 'accepted', error_code = null,
        error_title = null, updated_at = ?4
  where id = ?2 and sender_id = ?3 and provider_message_id is null and status = 'queued'";

pub(super) fn ingest_status(
    conn: &Connection,
    sender_id: i64,
    update: &StatusUpdate,
    received_at: DateTime<Utc>,
) -> StoreResult<IngestOutcome> {
    if let Some(outbox_id) = update.outbox_id {
        // A status for a send whose answer never reached us (it timed out, so it waits to
        // be tried again): the provider did take it. Record that, so it is not sent twice.
        conn.prepare_cached(ADOPT_SEND)?.execute(params![
            update.provider_message_id,
            outbox_id,
            sender_id,
            micros(received_at)
        ])?;
    }
    let target = conn
        .prepare_cached(
            "select id, conversation_id, status, payload, fallback from outbound_messages
             where provider_message_id = ?1 and sender_id = ?2
             order by id limit 1",
        )?
        .query_row(params![update.provider_message_id, sender_id], |r| {
            Ok(StatusTarget {
                id: r.get(0)?,
                conversation_id: r.get(1)?,
                status: r.get(2)?,
                payload: r.get(3)?,
                fallback: r.get(4)?,
            })
        })
        .optional()?;
    let Some(target) = target else {
        conn.prepare_cached(
            "insert into early_statuses (sender_id, provider_message_id, status, payload, received_at)
             values (?1, ?2, ?3, ?4, ?5) on conflict do nothing",
        )?
        .execute(params![
            sender_id,
            update.provider_message_id,
            update.status.as_str(),
            json_text("status", update)?,
            micros(received_at)
        ])?;
        return Ok(IngestOutcome::StatusUnknownMessage);
    };
    let outbound_id = target.id;
    let current = apply::status(&target.status)?;
    let Some(change) = status_change(current, update) else {
        return Ok(IngestOutcome::StatusIgnored { outbound_id });
    };

    let now = micros(received_at);
    conn.prepare_cached(
        "update outbound_messages set
             status = ?1,
             error_code = coalesce(?2, error_code),
             error_title = coalesce(?3, error_title),
             window_closed = (window_closed or ?4),
             updated_at = ?5
         where id = ?6",
    )?
    .execute(params![
        change.status.as_str(),
        change.error_code,
        change.error_title,
        change.window_closed,
        now,
        outbound_id
    ])?;

    let mut fallback_id = None;
    if change.window_closed {
        let message: OutboundMessage = from_text("outbound payload", &target.payload)?;
        let fallback: WindowFallback = from_text("outbound fallback", &target.fallback)?;
        if let Some(new) = window_fallback(
            &change,
            sender_id,
            target.conversation_id,
            &message,
            &fallback,
        ) {
            fallback_id = Some(insert_outbound(conn, &new, now)?);
        }
    }
    Ok(IngestOutcome::StatusApplied {
        outbound_id,
        status: change.status,
        fallback_id,
    })
}

/// Applies the statuses that arrived before outbound message `id` had its provider id.
pub(super) fn replay_early_statuses(conn: &Connection, id: i64) -> StoreResult<()> {
    let mut early = conn
        .prepare_cached(
            "delete from early_statuses
             where (sender_id, provider_message_id) in
                   (select sender_id, provider_message_id from outbound_messages where id = ?1)
             returning sender_id, payload, received_at",
        )?
        .query_map([id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?
        .map(|row| {
            let (sender_id, payload, at) = row?;
            let update: StatusUpdate = from_text("early status", &payload)?;
            Ok((sender_id, update, time(at)?))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    early.sort_by_key(|(_, u, at)| (u.timestamp, *at));
    for (sender_id, update, at) in early {
        ingest_status(conn, sender_id, &update, at)?;
    }
    Ok(())
}
