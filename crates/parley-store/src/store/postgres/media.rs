//! Inbound media downloads on PostgreSQL: enqueued with their message (`ingest`), claimed
//! with a lease and `skip locked` (several processes split them), outcomes, reads for the
//! API, and the retention sweep.

use super::PgStore;
use crate::domain::InboundMessage;
use crate::store::apply::lease_until;
use crate::store::rows::MediaCols;
use crate::store::shared_reads::for_postgres as shared;
use crate::store::{
    DownloadOutcome, IngestOutcome, MediaDownloads, MediaRecord, NewDownload, StoreError,
    StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::time::Duration;

use crate::store::sql::MEDIA_COLUMNS;

/// Whether any of these messages carries media to download (ingest then needs a
/// transaction for the message and its download).
pub(super) fn any_media(messages: &[(usize, i64, &InboundMessage, DateTime<Utc>)]) -> bool {
    messages.iter().any(|m| NewDownload::of(m.2).is_some())
}

/// Enqueues the downloads of the stored messages' media, in the transaction that stored
/// them. `outcomes` is indexed like the batch (`messages[].0`).
pub(super) async fn enqueue_downloads(
    conn: &mut PgConnection,
    messages: &[(usize, i64, &InboundMessage, DateTime<Utc>)],
    outcomes: &[Option<IngestOutcome>],
) -> StoreResult<()> {
    for (i, sender_id, message, received_at) in messages {
        let Some(download) = NewDownload::of(message) else {
            continue;
        };
        let Some(IngestOutcome::Stored {
            event_id,
            conversation_id,
        }) = outcomes[*i]
        else {
            continue;
        };
        sqlx::query(
            "insert into media_downloads
                 (sender_id, conversation_id, event_id, provider_message_id, kind, media_id, url,
                  declared_mime_type, declared_sha256, status, next_attempt_at, created_at,
                  updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', $10, $10, $10)
             on conflict (sender_id, provider_message_id) do nothing",
        )
        .bind(sender_id)
        .bind(conversation_id)
        .bind(event_id)
        .bind(&message.provider_message_id)
        .bind(download.kind.as_str())
        .bind(&download.media_id)
        .bind(&download.url)
        .bind(&download.mime_type)
        .bind(&download.sha256)
        .bind(received_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl MediaDownloads for PgStore {
    async fn claim_downloads(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<MediaRecord>> {
        let rows: Vec<MediaCols> = sqlx::query_as(&format!(
            "update media_downloads set lease_owner = $1, lease_until = $2
             where id in (
                 select id from media_downloads
                 where status = 'queued' and next_attempt_at <= $3
                   and (lease_until is null or lease_until <= $3)
                 order by next_attempt_at, id
                 limit $4
                 for no key update skip locked)
             returning {MEDIA_COLUMNS}"
        ))
        .bind(owner)
        .bind(lease_until(now, lease))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = rows
            .into_iter()
            .map(MediaRecord::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        claimed.sort_by_key(|r| r.id);
        Ok(claimed)
    }

    async fn record_download(
        &self,
        id: i64,
        owner: &str,
        outcome: &DownloadOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let result = match outcome {
            DownloadOutcome::Stored {
                sha256,
                content_type,
                size_bytes,
            } => {
                sqlx::query(
                    "update media_downloads set
                         status = 'stored', attempts = attempts + 1, sha256 = $3,
                         content_type = $4, size_bytes = $5, error = null,
                         stored_at = $6, updated_at = $6, lease_owner = null, lease_until = null
                     where id = $1 and lease_owner = $2",
                )
                .bind(id)
                .bind(owner)
                .bind(sha256)
                .bind(content_type)
                .bind(size_bytes)
                .bind(now)
                .execute(&self.pool)
                .await?
            }
            DownloadOutcome::Retry { at, error } => {
                sqlx::query(
                    "update media_downloads set
                         attempts = attempts + 1, next_attempt_at = $3, error = $4,
                         updated_at = $5, lease_owner = null, lease_until = null
                     where id = $1 and lease_owner = $2",
                )
                .bind(id)
                .bind(owner)
                .bind(at)
                .bind(error)
                .bind(now)
                .execute(&self.pool)
                .await?
            }
            DownloadOutcome::Failed { error } => {
                sqlx::query(
                    "update media_downloads set
                         status = 'failed', attempts = attempts + 1, error = $3,
                         updated_at = $4, lease_owner = null, lease_until = null
                     where id = $1 and lease_owner = $2",
                )
                .bind(id)
                .bind(owner)
                .bind(error)
                .bind(now)
                .execute(&self.pool)
                .await?
            }
        };
        if result.rows_affected() == 0 {
            return Err(StoreError::LeaseLost {
                what: "media download",
                id,
            });
        }
        Ok(())
    }

    async fn event_media(&self, event_id: i64) -> StoreResult<Option<MediaRecord>> {
        shared::event_media(&self.pool, event_id).await
    }

    async fn stored_media(&self, sha256: &str) -> StoreResult<Option<MediaRecord>> {
        shared::stored_media(&self.pool, sha256).await
    }

    async fn sweep_downloads(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<(u64, Vec<String>)> {
        let mut tx = self.pool.begin().await?;
        let gone: Vec<Option<String>> = sqlx::query_scalar(
            "delete from media_downloads where id in (
                 select id from media_downloads
                 where created_at < $1 and (status <> 'queued' or lease_owner is null)
                 order by created_at, id
                 limit $2
                 for update skip locked)
             returning sha256",
        )
        .bind(cutoff)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let deleted = gone.len() as u64;
        let mut files: Vec<String> = gone.into_iter().flatten().collect();
        files.sort();
        files.dedup();
        let orphans: Vec<String> = sqlx::query_scalar(
            "select f.sha256 from unnest($1::text[]) as f(sha256)
             where not exists (select 1 from media_downloads d where d.sha256 = f.sha256)",
        )
        .bind(&files)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((deleted, orphans))
    }

    async fn downloads_queued(&self) -> StoreResult<i64> {
        shared::downloads_queued(&self.pool).await
    }
}
