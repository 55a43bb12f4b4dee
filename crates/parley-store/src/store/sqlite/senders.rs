//! Stopped senders on SQLite: no send of a stopped sender is claimed (see `outbox`). And
//! the Twilio content templates created for buttons and lists.

use super::rows::micros;
use super::SqliteStore;
use crate::store::shared_reads::for_sqlite as shared;
use crate::store::{SenderStop, Senders, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;

#[async_trait]
impl Senders for SqliteStore {
    async fn stop_sender(
        &self,
        sender_id: i64,
        code: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let reason = reason.to_owned();
        let now = micros(now);
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "insert into sender_stops (sender_id, code, reason, stopped_at)
                     values (?1, ?2, ?3, ?4)
                     on conflict (sender_id) do update set
                         code = excluded.code, reason = excluded.reason,
                         stopped_at = excluded.stopped_at",
                )?
                .execute(params![sender_id, code, reason, now])?;
                Ok(())
            })
            .await
    }

    async fn resume_sender(&self, sender_id: i64) -> StoreResult<()> {
        self.writer
            .run(move |conn| {
                conn.prepare_cached("delete from sender_stops where sender_id = ?1")?
                    .execute([sender_id])?;
                Ok(())
            })
            .await
    }

    async fn stopped_senders(&self) -> StoreResult<Vec<SenderStop>> {
        shared::stopped_senders(&self.reader).await
    }

    async fn twilio_content_sid(
        &self,
        account_sid: &str,
        content_hash: &str,
    ) -> StoreResult<Option<String>> {
        shared::twilio_content_sid(&self.reader, account_sid, content_hash).await
    }

    async fn save_twilio_content_sid(
        &self,
        account_sid: &str,
        content_hash: &str,
        content_sid: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (account_sid, content_hash, content_sid) = (
            account_sid.to_owned(),
            content_hash.to_owned(),
            content_sid.to_owned(),
        );
        let now = micros(now);
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "insert into twilio_contents (account_sid, content_hash, content_sid, created_at)
                     values (?1, ?2, ?3, ?4)
                     on conflict (account_sid, content_hash) do nothing",
                )?
                .execute(params![account_sid, content_hash, content_sid, now])?;
                Ok(())
            })
            .await
    }
}
