//! Webhook ingress on SQLite: a batch of messages and statuses in one write transaction.

use super::inbox::upsert_contact;
use super::outbox::insert_outbound;
use super::rows::{from_text, json_text, micros, time};
use super::SqliteStore;
use crate::domain::{InboundMessage, OutboundMessage, StatusUpdate, WindowFallback};
use crate::store::apply::{self, status_change, window_fallback};
use crate::store::{EventKind, IngestItem, IngestOutcome, StoreResult};
use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};

impl SqliteStore {
    pub(super) async fn ingest_batch(
        &self,
        items: &[IngestItem],
    ) -> StoreResult<Vec<IngestOutcome>> {
        let mut tx = self.write().await?;
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
    conn: &mut SqliteConnection,
    sender_id: i64,
    message: &InboundMessage,
    received_at: DateTime<Utc>,
) -> StoreResult<IngestOutcome> {
    // Checked first so a duplicate touches neither the contact nor the conversation. This
    // connection is the only writer, so nothing can slip in between.
    let seen: bool = sqlx::query_scalar(
        "select exists (select 1 from conversation_events
                        where sender_id = $1 and provider_message_id = $2)",
    )
    .bind(sender_id)
    .bind(&message.provider_message_id)
    .fetch_one(&mut *conn)
    .await?;
    if seen {
        return Ok(IngestOutcome::Duplicate);
    }

    let now = micros(received_at);
    let contact_id = upsert_contact(
        conn,
        &message.from.key(),
        message.profile_name.as_deref(),
        now,
    )
    .await?;
    let inbound_at = micros(message.timestamp.unwrap_or(received_at));
    let conversation_id: i64 = sqlx::query_scalar(
        "insert into conversations
             (sender_id, contact_id, last_inbound_at, has_work, work_since, created_at)
         values ($1, $2, $3, 1, $4, $4)
         on conflict (sender_id, contact_id) do update set
             last_inbound_at = max(coalesce(conversations.last_inbound_at, excluded.last_inbound_at),
                                   excluded.last_inbound_at),
             has_work = 1,
             work_since = coalesce(conversations.work_since, excluded.work_since)
         returning id",
    )
    .bind(sender_id)
    .bind(contact_id)
    .bind(inbound_at)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;

    let payload = json_text("event", &EventKind::Message(message.clone()))?;
    let event_id: i64 = sqlx::query_scalar(
        "insert into conversation_events
             (conversation_id, sender_id, provider_message_id, kind, payload, received_at)
         values ($1, $2, $3, 'message', $4, $5)
         returning id",
    )
    .bind(conversation_id)
    .bind(sender_id)
    .bind(&message.provider_message_id)
    .bind(payload)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(IngestOutcome::Stored {
        event_id,
        conversation_id,
    })
}

pub(super) async fn ingest_status(
    conn: &mut SqliteConnection,
    sender_id: i64,
    update: &StatusUpdate,
    received_at: DateTime<Utc>,
) -> StoreResult<IngestOutcome> {
    let row = sqlx::query(
        "select id, conversation_id, status, payload, fallback from outbound_messages
         where provider_message_id = $1 and sender_id = $2
         order by id limit 1",
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
        .bind(json_text("status", update)?)
        .bind(micros(received_at))
        .execute(&mut *conn)
        .await?;
        return Ok(IngestOutcome::StatusUnknownMessage);
    };
    let outbound_id: i64 = row.try_get("id")?;
    let current = apply::status(row.try_get("status")?)?;
    let Some(change) = status_change(current, update) else {
        return Ok(IngestOutcome::StatusIgnored { outbound_id });
    };

    let now = micros(received_at);
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
    .bind(now)
    .bind(outbound_id)
    .execute(&mut *conn)
    .await?;

    let mut fallback_id = None;
    if change.window_closed {
        let message: OutboundMessage = from_text("outbound payload", row.try_get("payload")?)?;
        let fallback: WindowFallback = from_text("outbound fallback", row.try_get("fallback")?)?;
        let conversation_id: i64 = row.try_get("conversation_id")?;
        if let Some(new) = window_fallback(&change, sender_id, conversation_id, &message, &fallback)
        {
            fallback_id = Some(insert_outbound(conn, &new, now).await?);
        }
    }
    Ok(IngestOutcome::StatusApplied {
        outbound_id,
        status: change.status,
        fallback_id,
    })
}

/// Applies the statuses that arrived before outbound message `id` had its provider id.
pub(super) async fn replay_early_statuses(conn: &mut SqliteConnection, id: i64) -> StoreResult<()> {
    let rows = sqlx::query(
        "delete from early_statuses
         where (sender_id, provider_message_id) in
               (select sender_id, provider_message_id from outbound_messages where id = $1)
         returning sender_id, payload, received_at",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let mut early = rows
        .iter()
        .map(|r| {
            let update: StatusUpdate = from_text("early status", r.try_get("payload")?)?;
            Ok((
                r.try_get::<i64, _>("sender_id")?,
                update,
                time(r.try_get("received_at")?)?,
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    early.sort_by_key(|(_, u, at)| (u.timestamp, *at));
    for (sender_id, update, at) in early {
        ingest_status(conn, sender_id, &update, at).await?;
    }
    Ok(())
}
