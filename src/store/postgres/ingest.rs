//! Webhook ingress on PostgreSQL: a batch of messages and statuses in one transaction, one
//! statement per message.

use super::outbox::insert_outbound;
use super::rows::json;
use super::PgStore;
use crate::domain::EventKind;
use crate::domain::{InboundMessage, OutboundMessage, StatusUpdate, WindowFallback};
use crate::store::apply::{self, status_change, window_fallback};
use crate::store::{IngestItem, IngestOutcome, StoreResult};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use std::collections::HashMap;

impl PgStore {
    /// All messages of the batch in ONE statement; statuses (which must see each other in
    /// order) one by one after it, in the same transaction. A batch of messages only is a
    /// single round trip in its own transaction, so the conversations it touches stay
    /// locked only while that statement runs.
    pub(super) async fn ingest_batch(
        &self,
        items: &[IngestItem],
    ) -> StoreResult<Vec<IngestOutcome>> {
        let messages: Vec<(usize, i64, &InboundMessage, DateTime<Utc>)> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item {
                IngestItem::Message {
                    sender_id,
                    message,
                    received_at,
                } => Some((i, *sender_id, message, *received_at)),
                IngestItem::Status { .. } => None,
            })
            .collect();
        let mut outcomes: Vec<Option<IngestOutcome>> = vec![None; items.len()];
        if messages.len() == items.len() {
            let mut conn = self.pool.acquire().await?;
            ingest_messages(&mut conn, &messages, &mut outcomes).await?;
        } else {
            let mut tx = self.pool.begin().await?;
            ingest_messages(&mut tx, &messages, &mut outcomes).await?;
            // See `lock_provider_ids`: a status racing its send's outcome is not lost.
            let provider_ids: Vec<&str> = items
                .iter()
                .filter_map(|item| match item {
                    IngestItem::Status { status, .. } => Some(status.provider_message_id.as_str()),
                    IngestItem::Message { .. } => None,
                })
                .collect();
            super::outbox::lock_provider_ids(&mut tx, &provider_ids).await?;
            for (i, item) in items.iter().enumerate() {
                if let IngestItem::Status {
                    sender_id,
                    status,
                    received_at,
                } = item
                {
                    outcomes[i] =
                        Some(ingest_status(&mut tx, *sender_id, status, *received_at).await?);
                }
            }
            tx.commit().await?;
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.expect("every item has an outcome"))
            .collect())
    }
}

/// Stores `messages` (index into the batch, sender, message, receipt time) in one statement
/// and fills their `outcomes`. A message seen before (stored earlier, or earlier in this
/// batch) touches nothing and is a `Duplicate`. Contacts are upserted once each in key
/// order, then the conversations that exist already are locked in id order (the order of
/// batched steps and timer firing) before any is changed, so overlapping batches, steps and
/// timers queue instead of deadlocking. Should the same message reach two processes at
/// once, the unique key on events lets only one insert win.
async fn ingest_messages(
    conn: &mut PgConnection,
    messages: &[(usize, i64, &InboundMessage, DateTime<Utc>)],
    outcomes: &mut [Option<IngestOutcome>],
) -> StoreResult<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let senders: Vec<i64> = messages.iter().map(|m| m.1).collect();
    let ids: Vec<&str> = messages
        .iter()
        .map(|m| m.2.provider_message_id.as_str())
        .collect();
    let keys: Vec<String> = messages.iter().map(|m| m.2.from.key()).collect();
    let names: Vec<Option<&str>> = messages
        .iter()
        .map(|m| m.2.profile_name.as_deref())
        .collect();
    let received: Vec<DateTime<Utc>> = messages.iter().map(|m| m.3).collect();
    let sent: Vec<DateTime<Utc>> = messages
        .iter()
        .map(|m| m.2.timestamp.unwrap_or(m.3))
        .collect();
    let payloads: Vec<Json<EventKind>> = messages
        .iter()
        .map(|m| Json(EventKind::Message(m.2.clone())))
        .collect();
    let rows = sqlx::query(
        "with input as (
             select * from unnest($1::bigint[], $2::text[], $3::text[], $4::text[],
                                  $5::timestamptz[], $6::timestamptz[], $7::jsonb[])
                  with ordinality as i(sender_id, provider_message_id, key, name, received_at,
                                       sent_at, payload, n)
         ), fresh as (
             select * from input i
             where not exists (select 1 from conversation_events e
                               where e.sender_id = i.sender_id
                                 and e.provider_message_id = i.provider_message_id)
         ), contact as (
             insert into contacts (key, name, created_at)
             select key, (array_agg(name order by n desc) filter (where name is not null))[1],
                    min(received_at)
             from fresh group by key order by key
             on conflict (key) do update set name = coalesce(excluded.name, contacts.name)
             returning id, key
         ), locked as (
             select v.id from conversations v
             join (select distinct f.sender_id, c.id as contact_id
                   from fresh f join contact c on c.key = f.key) t
               on t.sender_id = v.sender_id and t.contact_id = v.contact_id
             order by v.id
             for no key update of v
         ), conversation as (
             insert into conversations
                 (sender_id, contact_id, last_inbound_at, has_work, work_since, created_at)
             select f.sender_id, c.id, max(f.sent_at), true, min(f.received_at), min(f.received_at)
             from fresh f join contact c on c.key = f.key
             where (select count(*) from locked) >= 0
             group by f.sender_id, c.id order by f.sender_id, c.id
             on conflict (sender_id, contact_id) do update set
                 last_inbound_at = greatest(conversations.last_inbound_at, excluded.last_inbound_at),
                 has_work = true,
                 work_since = coalesce(conversations.work_since, excluded.work_since)
             returning id, sender_id, contact_id
         )
         insert into conversation_events
             (conversation_id, sender_id, provider_message_id, kind, payload, received_at)
         select v.id, f.sender_id, f.provider_message_id, 'message', f.payload, f.received_at
         from fresh f
         join contact c on c.key = f.key
         join conversation v on v.sender_id = f.sender_id and v.contact_id = c.id
         order by f.n
         on conflict (sender_id, provider_message_id) do nothing
         returning id, conversation_id, sender_id, provider_message_id",
    )
    .bind(senders)
    .bind(ids)
    .bind(keys)
    .bind(names)
    .bind(received)
    .bind(sent)
    .bind(payloads)
    .fetch_all(&mut *conn)
    .await?;
    let mut stored: HashMap<(i64, String), IngestOutcome> = HashMap::with_capacity(rows.len());
    for row in &rows {
        stored.insert(
            (
                row.try_get("sender_id")?,
                row.try_get("provider_message_id")?,
            ),
            IngestOutcome::Stored {
                event_id: row.try_get("id")?,
                conversation_id: row.try_get("conversation_id")?,
            },
        );
    }
    // The first of several copies in the batch is the one stored (inserted in batch order).
    for (i, sender_id, message, _) in messages {
        outcomes[*i] = Some(
            stored
                .remove(&(*sender_id, message.provider_message_id.clone()))
                .unwrap_or(IngestOutcome::Duplicate),
        );
    }
    Ok(())
}

pub(super) async fn ingest_status(
    conn: &mut PgConnection,
    sender_id: i64,
    update: &StatusUpdate,
    received_at: DateTime<Utc>,
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
