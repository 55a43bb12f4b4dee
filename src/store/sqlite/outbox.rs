//! The outbox on SQLite: enqueue, head-of-line claims per conversation, send outcomes, and
//! stopped senders.

use super::rows::{self, from_text, json_text, micros, opt_time, time, OUTBOUND_COLUMNS};
use super::SqliteStore;
use crate::store::apply::lease_until;
use crate::store::{
    NewOutbound, OutboundRecord, OutboxItem, SendOutcome, SenderStop, StoreError, StoreResult,
};
use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};
use std::time::Duration;

/// Inserts a message ready to send at `now` and returns its id.
pub(super) async fn insert_outbound(
    conn: &mut SqliteConnection,
    message: &NewOutbound,
    now: i64,
) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "insert into outbound_messages
             (sender_id, conversation_id, payload, fallback, origin, status,
              next_attempt_at, created_at, updated_at)
         values ($1, $2, $3, $4, $5, 'queued', $6, $6, $6)
         returning id",
    )
    .bind(message.sender_id)
    .bind(message.conversation_id)
    .bind(json_text("outbound payload", &message.message)?)
    .bind(json_text("outbound fallback", &message.fallback)?)
    .bind(message.origin.as_str())
    .bind(now)
    .fetch_one(conn)
    .await?)
}

impl SqliteStore {
    pub(super) async fn enqueue_all(
        &self,
        messages: &[NewOutbound],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<i64>> {
        let mut tx = self.write().await?;
        let mut ids = Vec::with_capacity(messages.len());
        for message in messages {
            ids.push(insert_outbound(&mut tx, message, micros(now)).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    pub(super) async fn claim_sends(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<OutboxItem>> {
        // A message still `queued` blocks its conversation's later messages, in flight or
        // not, so replies leave in the order the flow produced them.
        let rows = sqlx::query(
            "update outbound_messages set lease_owner = $1, lease_until = $2
             where id in (
                 select o.id from outbound_messages o
                 where o.status = 'queued'
                   and o.next_attempt_at <= $3
                   and (o.lease_until is null or o.lease_until <= $3)
                   and not exists (select 1 from outbound_messages older
                                   where older.conversation_id = o.conversation_id
                                     and older.status = 'queued' and older.id < o.id)
                   and not exists (select 1 from sender_stops s where s.sender_id = o.sender_id)
                 order by o.id
                 limit $4)
             returning id, sender_id, conversation_id, payload, fallback, attempts, created_at,
                 (select last_inbound_at from conversations c
                  where c.id = outbound_messages.conversation_id) as last_inbound_at",
        )
        .bind(owner)
        .bind(micros(lease_until(now, lease)))
        .bind(micros(now))
        .bind(limit)
        .fetch_all(&self.writer)
        .await?;
        let mut items = rows
            .iter()
            .map(|row| {
                Ok(OutboxItem {
                    id: row.try_get("id")?,
                    sender_id: row.try_get("sender_id")?,
                    conversation_id: row.try_get("conversation_id")?,
                    message: from_text("outbound payload", row.try_get("payload")?)?,
                    fallback: from_text("outbound fallback", row.try_get("fallback")?)?,
                    attempts: row.try_get("attempts")?,
                    created_at: time(row.try_get("created_at")?)?,
                    last_inbound_at: opt_time(row.try_get("last_inbound_at")?)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        items.sort_by_key(|item| item.id);
        Ok(items)
    }

    pub(super) async fn record(
        &self,
        id: i64,
        owner: &str,
        outcome: &SendOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let now = micros(now);
        let query = match outcome {
            SendOutcome::Accepted { provider_message_id, converted_to } => {
                let converted = converted_to.as_ref().map(|c| json_text("outbound content", c)).transpose()?;
                sqlx::query(
                    "update outbound_messages set
                         status = 'accepted', provider_message_id = $3,
                         payload = case when $4 is null then payload
                                        else json_set(payload, '$.content', json($4)) end,
                         error_code = null, error_title = null,
                         lease_owner = null, lease_until = null, updated_at = $5
                     where id = $1 and lease_owner = $2",
                )
                .bind(id)
                .bind(owner)
                .bind(provider_message_id)
                .bind(converted)
                .bind(now)
            }
            SendOutcome::Retry { at, code, title } => sqlx::query(
                "update outbound_messages set
                     attempts = attempts + 1, next_attempt_at = $3, error_code = $4, error_title = $5,
                     lease_owner = null, lease_until = null, updated_at = $6
                 where id = $1 and lease_owner = $2",
            )
            .bind(id)
            .bind(owner)
            .bind(micros(*at))
            .bind(code)
            .bind(title)
            .bind(now),
            SendOutcome::Failed { code, title, window_closed } => sqlx::query(
                "update outbound_messages set
                     status = 'failed', error_code = $3, error_title = $4, window_closed = $5,
                     lease_owner = null, lease_until = null, updated_at = $6
                 where id = $1 and lease_owner = $2",
            )
            .bind(id)
            .bind(owner)
            .bind(code)
            .bind(title)
            .bind(window_closed)
            .bind(now),
            // The reason is kept as the record's error title.
            SendOutcome::Skipped { reason } => sqlx::query(
                "update outbound_messages set
                     status = 'skipped', error_title = $3,
                     lease_owner = null, lease_until = null, updated_at = $4
                 where id = $1 and lease_owner = $2",
            )
            .bind(id)
            .bind(owner)
            .bind(reason)
            .bind(now),
            SendOutcome::Requeue => sqlx::query(
                "update outbound_messages set lease_owner = null, lease_until = null
                 where id = $1 and lease_owner = $2",
            )
            .bind(id)
            .bind(owner),
        };
        let mut tx = self.write().await?;
        if query.execute(&mut *tx).await?.rows_affected() == 0 {
            return Err(StoreError::LeaseLost {
                what: "outbound message",
                id,
            });
        }
        if matches!(outcome, SendOutcome::Accepted { .. }) {
            super::ingest::replay_early_statuses(&mut tx, id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn outbound_by_id(&self, id: i64) -> StoreResult<Option<OutboundRecord>> {
        let row = sqlx::query(&format!(
            "select {OUTBOUND_COLUMNS} from outbound_messages where id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(rows::outbound).transpose()
    }

    pub(super) async fn outbound_page(
        &self,
        conversation_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<OutboundRecord>> {
        sqlx::query(&format!(
            "select {OUTBOUND_COLUMNS} from outbound_messages
             where conversation_id = $1 and ($2 is null or id < $2)
             order by id desc
             limit $3"
        ))
        .bind(conversation_id)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(rows::outbound)
        .collect()
    }

    pub(super) async fn depth(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("select count(*) from outbound_messages where status = 'queued'")
                .fetch_one(&self.reader)
                .await?,
        )
    }

    pub(super) async fn stop(
        &self,
        sender_id: i64,
        code: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "insert into sender_stops (sender_id, code, reason, stopped_at) values ($1, $2, $3, $4)
             on conflict (sender_id) do update set
                 code = excluded.code, reason = excluded.reason, stopped_at = excluded.stopped_at",
        )
        .bind(sender_id)
        .bind(code)
        .bind(reason)
        .bind(micros(now))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub(super) async fn resume(&self, sender_id: i64) -> StoreResult<()> {
        sqlx::query("delete from sender_stops where sender_id = $1")
            .bind(sender_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub(super) async fn stops(&self) -> StoreResult<Vec<SenderStop>> {
        sqlx::query(
            "select sender_id, code, reason, stopped_at from sender_stops order by sender_id",
        )
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|row| {
            Ok(SenderStop {
                sender_id: row.try_get("sender_id")?,
                code: row.try_get("code")?,
                reason: row.try_get("reason")?,
                stopped_at: time(row.try_get("stopped_at")?)?,
            })
        })
        .collect()
    }
}
