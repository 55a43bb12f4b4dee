//! Delivery statuses applied to outbound messages on PostgreSQL: from a webhook (`ingest`),
//! or replayed when a send they arrived before is accepted (`outbox`), under the lock of
//! the provider message id both sides take.

use super::rows::{insert_outbound, json};
use crate::domain::{OutboundMessage, StatusUpdate, WindowFallback};
use crate::store::apply::{self, status_change, window_fallback};
use crate::store::{IngestOutcome, StoreResult};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};

/// The statement that takes the transaction-long lock of each provider message id in the
/// text array parameter `$p`, in key order. One text for both sides of the race below, so
/// they always agree on the keys.
macro_rules! lock_keys {
    ($p:literal) => {
        concat!(
            "select pg_advisory_xact_lock(k) from (select distinct hashtextextended(p, 0) as k from unnest(",
            $p,
            "::text[]) p order by k) sorted"
        )
    };
}
pub(super) use lock_keys;

/// Takes the transaction-long lock of each provider message id, in one order.
///
/// A status can arrive while its send's outcome is being recorded. Without a lock, the
/// status finds no message with its provider id (the outcome is not committed yet) and is
/// kept as early, while the outcome finds no early status (that is not committed yet
/// either) and is recorded without it: the status would wait forever. The status's side
/// takes this lock before it looks for the send; the send's side takes it before it records
/// the provider id, holds it to its commit, and looks for early statuses in a statement
/// that starts after that commit (`record_one` does all of it in one transaction). So
/// either the status looks after the send committed and finds it, or the status was stored
/// before the send took the lock and the send's look finds it.
pub(super) async fn lock_provider_ids(
    conn: &mut PgConnection,
    provider_ids: &[&str],
) -> StoreResult<()> {
    if provider_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(lock_keys!("$1"))
        .bind(provider_ids)
        .execute(conn)
        .await?;
    Ok(())
}

pub(super) async fn ingest_status(
    conn: &mut PgConnection,
    sender_id: i64,
    update: &StatusUpdate,
    received_at: DateTime<Utc>,
    tell: bool,
) -> StoreResult<IngestOutcome> {
    if let Some(outbox_id) = update.outbox_id {
        // A status for a send whose answer never reached us (it timed out, so it waits to
        // be tried again): the provider did take it. Record that, so it is not sent twice
        // (see the SQLite store's `ADOPT_SEND`).
        sqlx::query(
            "update outbound_messages
                set provider_message_id = $1, status = 'accepted', error_code = null,
                    error_title = null, updated_at = $4
              where id = $2 and sender_id = $3 and provider_message_id is null
                and status = 'queued'",
        )
        .bind(&update.provider_message_id)
        .bind(outbox_id)
        .bind(sender_id)
        .bind(received_at)
        .execute(&mut *conn)
        .await?;
    }
    let row = sqlx::query(
        "select id, conversation_id, status, payload, fallback, flow, step from outbound_messages
         where provider_message_id = $1 and sender_id = $2
         order by id limit 1
         for no key update",
    )
    .bind(&update.provider_message_id)
    .bind(sender_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        sqlx::query(
            "insert into early_statuses (sender_id, provider_message_id, status, payload, received_at)
             values ($1, $2, $3, $4, $5) on conflict do nothing",
        )
        .bind(sender_id)
        .bind(&update.provider_message_id)
        .bind(update.status.as_str())
        .bind(sqlx::types::Json(update))
        .bind(received_at)
        .execute(&mut *conn)
        .await?;
        return Ok(IngestOutcome::StatusUnknownMessage);
    };
    let outbound_id: i64 = row.try_get("id")?;
    if let Some(pricing) = &update.pricing {
        // Whether or not the status itself applies: `sent` (which carries it) may come
        // after `delivered`.
        super::costs::record_pricing(&mut *conn, outbound_id, pricing, received_at).await?;
    }
    let current = apply::status(row.try_get("status")?)?;
    let Some(change) = status_change(current, update) else {
        return Ok(IngestOutcome::StatusIgnored { outbound_id });
    };

    sqlx::query(
        "update outbound_messages set
             status = $1,
             error_code = coalesce($2, error_code),
             error_title = coalesce($3, error_title),
             window_closed = (window_closed or $4),
             updated_at = $5
         where id = $6",
    )
    .bind(change.status.as_str())
    .bind(change.error_code)
    .bind(&change.error_title)
    .bind(change.window_closed)
    .bind(received_at)
    .bind(outbound_id)
    .execute(&mut *conn)
    .await?;
    // WhatsApp held a marketing message back (131049) or the customer stopped marketing
    // (131050): see the SQLite store's `marketing_failure`.
    match apply::marketing_class(&change) {
        Some(crate::domain::ErrorClass::MarketingLimited) => {
            super::account::defer_in(&mut *conn, outbound_id, received_at).await?;
        }
        Some(crate::domain::ErrorClass::MarketingStopped) => {
            super::account::stop_in(&mut *conn, outbound_id, received_at).await?;
        }
        _ => {}
    }
    if tell {
        // `message.status`, in this transaction (events out recorded).
        super::events_log::tell_outbound(
            &mut *conn,
            outbound_id,
            Some(change.status.as_str()),
            received_at,
        )
        .await?;
    }

    let mut fallback_id = None;
    if change.window_closed {
        let message: OutboundMessage = json(&row, "payload")?;
        let fallback: WindowFallback = json(&row, "fallback")?;
        let conversation_id: i64 = row.try_get("conversation_id")?;
        let attribution = (row.try_get("flow")?, row.try_get("step")?);
        if let Some(new) = window_fallback(
            &change,
            sender_id,
            conversation_id,
            &message,
            &fallback,
            attribution,
        ) {
            fallback_id = insert_outbound(conn, std::slice::from_ref(&new), received_at)
                .await?
                .first()
                .copied();
        }
    }
    Ok(IngestOutcome::StatusApplied {
        outbound_id,
        status: change.status,
        fallback_id,
    })
}

/// Applies the statuses that arrived before outbound message `id` had its provider id.
pub(super) async fn replay_early_statuses(
    conn: &mut PgConnection,
    id: i64,
    tell: bool,
) -> StoreResult<()> {
    let rows = sqlx::query(
        "delete from early_statuses e using outbound_messages o
         where o.id = $1 and e.sender_id = o.sender_id and e.provider_message_id = o.provider_message_id
         returning e.sender_id, e.payload, e.received_at",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let mut early = rows
        .iter()
        .map(|r| {
            let update: StatusUpdate = json(r, "payload")?;
            Ok((
                r.try_get::<i64, _>("sender_id")?,
                update,
                r.try_get::<DateTime<Utc>, _>("received_at")?,
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    early.sort_by_key(|(_, u, at)| (u.timestamp, *at));
    for (sender_id, update, at) in early {
        ingest_status(conn, sender_id, &update, at, tell).await?;
    }
    Ok(())
}
