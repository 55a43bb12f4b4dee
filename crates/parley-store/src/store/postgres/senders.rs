//! Stopped senders on PostgreSQL: no send of a stopped sender is claimed (see `outbox`).
//! And the Twilio content templates created for buttons and lists.

use super::PgStore;
use crate::store::shared_reads::for_postgres as shared;
use crate::store::{SenderStop, Senders, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl Senders for PgStore {
    async fn stop_sender(
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
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn resume_sender(&self, sender_id: i64) -> StoreResult<()> {
        sqlx::query("delete from sender_stops where sender_id = $1")
            .bind(sender_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn stopped_senders(&self) -> StoreResult<Vec<SenderStop>> {
        shared::stopped_senders(&self.pool).await
    }

    async fn twilio_content_sid(
        &self,
        account_sid: &str,
        content_hash: &str,
    ) -> StoreResult<Option<String>> {
        shared::twilio_content_sid(&self.pool, account_sid, content_hash).await
    }

    async fn save_twilio_content_sid(
        &self,
        account_sid: &str,
        content_hash: &str,
        content_sid: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "insert into twilio_contents (account_sid, content_hash, content_sid, created_at)
             values ($1, $2, $3, $4)
             on conflict (account_sid, content_hash) do nothing",
        )
        .bind(account_sid)
        .bind(content_hash)
        .bind(content_sid)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
