//! Webhook ingress on PostgreSQL: a batch of messages and statuses in one transaction, one
//! statement per message.

use super::outbox::insert_outbound;
use super::rows::json;
use super::PgStore;
use crate::domain::{InboundMessage, OutboundMessage, StatusUpdate, WindowFallback};
use crate::store::apply::{self, status_change, window_fallback};
use crate::store::{EventKind, IngestItem, IngestOutcome, StoreResult};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, Row};

impl PgStore {
    pub(super) async fn ingest_batch(
        &self,
        items: &[IngestItem],
    ) -> StoreResult<Vec<IngestOutcome>> {
        let mut tx = self.pool.begin().await?;
        let mut outcomes = Vec::with_capacity(items.len());
        for item in items {
            outcomes.push(match item {
                IngestItem::Message {
                    sender_id,
                    message,
                    received_at,
                } => ingest_message(&mut tx, *sender_id, message, *received_at).await?,
                IngestItem::Status {
                    sender_id,
                    status,
                    received_at,
                } => ingest_status(&mut tx, *sender_id, status, *received_at).await?,
            });
        }
        tx.commit().await?;
        Ok(outcomes)
    }
}

async fn ingest_message(
    conn: &mut PgConnection,
    sender_id: i64,
    message: &InboundMessage,
    received_at: DateTime<Utc>,
) -> StoreResult<IngestOutcome> {
    // A message seen before touches nothing. Should the same message arrive at two
    // processes at once, the unique key on events lets only one insert win; the other
    // has merely repeated the same contact and conversation update.
    let row = sqlx::query(
        "with known as (
             select 1 from conversation_events where sender_id = $1 and provider_message_id = $2
         ), contact as (
             insert into contacts (key, name, created_at)
             select $3, $4, $5 where not exists (select 1 from known)
             on conflict (key) do update set name = coalesce(excluded.name, contacts.name)
             returning id
         ), conversation as (
             insert into conversations
                 (sender_id, contact_id, last_inbound_at, has_work, work_since, created_at)
             select $1, id, $6, true, $5, $5 from contact
             on conflict (sender_id, contact_id) do update set
                 last_inbound_at = greatest(conversations.last_inbound_at, excluded.last_inbound_at),
                 has_work = true,
                 work_since = coalesce(conversations.work_since, excluded.work_since)
             returning id
         )
         insert into conversation_events
             (conversation_id, sender_id, provider_message_id, kind, payload, received_at)
         select id, $1, $2, 'message', $7, $5 from conversation
         on conflict (sender_id, provider_message_id) do nothing
         returning id, conversation_id",
    )
    .bind(sender_id)
    .bind(&message.provider_message_id)
    .bind(message.from.key())
    .bind(message.profile_name.as_deref())
    .bind(received_at)
    .bind(message.timestamp.unwrap_or(received_at))
    .bind(Json(EventKind::Message(message.clone())))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(row) => IngestOutcome::Stored {
            event_id: row.try_get("id")?,
            conversation_id: row.try_get("conversation_id")?,
        },
        None => IngestOutcome::Duplicate,
    })
}

pub(super) async fn ingest_status(
    conn: &mut PgConnection,
    sender_id: i64,
    update: &StatusUpdate,
    received_at: DateTime<Utc>,
) -> StoreResult<IngestOutcome> {
    let row = sqlx::query(
        "select id, conversation_id, status, payload, fallback from outbound_messages
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

    let mut fallback_id = None;
    if change.window_closed {
        let message: OutboundMessage = json(&row, "payload")?;
        let fallback: WindowFallback = json(&row, "fallback")?;
        let conversation_id: i64 = row.try_get("conversation_id")?;
        if let Some(new) = window_fallback(&change, sender_id, conversation_id, &message, &fallback)
        {
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
pub(super) async fn replay_early_statuses(conn: &mut PgConnection, id: i64) -> StoreResult<()> {
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
            let update: StatusUpdate = super::rows::json(r, "payload")?;
            Ok((
                r.try_get::<i64, _>("sender_id")?,
                update,
                r.try_get::<DateTime<Utc>, _>("received_at")?,
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    early.sort_by_key(|(_, u, at)| (u.timestamp, *at));
    for (sender_id, update, at) in early {
        ingest_status(conn, sender_id, &update, at).await?;
    }
    Ok(())
}
