//! Delivery statuses applied to outbound messages on SQLite: from a webhook (`ingest`), or
//! replayed when a send they arrived before is accepted (`outbox`).

use super::rows::{from_text, insert_outbound, json_text, micros, time};
use super::statements::Conn;
use crate::domain::{OutboundMessage, StatusUpdate, WindowFallback};
use crate::store::apply::{self, status_change, window_fallback};
use crate::store::{IngestOutcome, StoreResult};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

/// What a status needs of the outbound message it is about.
struct StatusTarget {
    id: i64,
    conversation_id: i64,
    status: String,
    payload: String,
    fallback: String,
    flow: Option<String>,
    step: Option<String>,
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
    conn: &Conn<'_>,
    sender_id: i64,
    update: &StatusUpdate,
    received_at: DateTime<Utc>,
    tell: bool,
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
            "select id, conversation_id, status, payload, fallback, flow, step from outbound_messages
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
                flow: r.get(5)?,
                step: r.get(6)?,
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
    if let Some(pricing) = &update.pricing {
        // Whether or not the status itself applies: `sent` (which carries it) may come
        // after `delivered`.
        super::costs::record_pricing(conn, outbound_id, pricing, micros(received_at))?;
    }
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

    marketing_failure(conn, &change, outbound_id, now)?;
    if tell {
        // `message.status`, in this transaction (events out recorded).
        super::events_log::tell_outbound(conn, outbound_id, Some(change.status.as_str()), now)?;
    }
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
            (target.flow.clone(), target.step.clone()),
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

/// A `failed` status that says WhatsApp held a marketing message back (131049: a copy waits
/// for its day on the ladder) or that the customer stopped marketing (131050).
fn marketing_failure(
    conn: &Conn<'_>,
    change: &apply::StatusChange,
    outbound_id: i64,
    now: i64,
) -> StoreResult<()> {
    use crate::domain::ErrorClass;
    match apply::marketing_class(change) {
        Some(ErrorClass::MarketingLimited) => {
            super::account::defer_in(conn, outbound_id, now)?;
        }
        Some(ErrorClass::MarketingStopped) => super::account::stop_in(conn, outbound_id, now)?,
        _ => {}
    }
    Ok(())
}

/// Applies the statuses that arrived before outbound message `id` had its provider id.
pub(super) fn replay_early_statuses(conn: &Conn<'_>, id: i64, tell: bool) -> StoreResult<()> {
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
        ingest_status(conn, sender_id, &update, at, tell)?;
    }
    Ok(())
}
