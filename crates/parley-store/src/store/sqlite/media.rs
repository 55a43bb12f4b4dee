//! Inbound media downloads on SQLite: enqueued with their message (`ingest`), claimed with
//! a lease, outcomes, reads for the API, and the retention sweep.

use super::rows::{micros, opt_time, time, Cols};
use super::statements::Conn;
use super::SqliteStore;
use crate::domain::MediaKind;
use crate::store::apply::lease_until;
use crate::store::shared_reads::for_sqlite as shared;
use crate::store::{
    DownloadOutcome, DownloadStatus, MediaDownloads, MediaRecord, NewDownload, StoreError,
    StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;
use std::time::Duration;

use crate::store::sql::MEDIA_COLUMNS;

/// Enqueues the download of a message's media, in the message's own transaction.
pub(super) fn enqueue_download(
    conn: &Conn<'_>,
    sender_id: i64,
    conversation_id: i64,
    event_id: i64,
    provider_message_id: &str,
    download: &NewDownload,
    now: i64,
) -> StoreResult<()> {
    conn.prepare_cached(
        "insert into media_downloads
             (sender_id, conversation_id, event_id, provider_message_id, kind, media_id, url,
              declared_mime_type, declared_sha256, status, next_attempt_at, created_at, updated_at)
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'queued', ?10, ?10, ?10)
         on conflict (sender_id, provider_message_id) do nothing",
    )?
    .execute(params![
        sender_id,
        conversation_id,
        event_id,
        provider_message_id,
        download.kind.as_str(),
        download.media_id,
        download.url,
        download.mime_type,
        download.sha256,
        now
    ])?;
    Ok(())
}

fn record(row: &impl Cols) -> StoreResult<MediaRecord> {
    let kind = row.text("kind")?;
    let status = row.text("status")?;
    Ok(MediaRecord {
        id: row.int("id")?,
        sender_id: row.int("sender_id")?,
        conversation_id: row.int("conversation_id")?,
        event_id: row.int("event_id")?,
        provider_message_id: row.text("provider_message_id")?,
        kind: MediaKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("media kind `{kind}`")))?,
        media_id: row.opt_text("media_id")?,
        url: row.opt_text("url")?,
        declared_mime_type: row.opt_text("declared_mime_type")?,
        declared_sha256: row.opt_text("declared_sha256")?,
        status: DownloadStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("download status `{status}`")))?,
        attempts: row.int("attempts")? as i32,
        error: row.opt_text("error")?,
        sha256: row.opt_text("sha256")?,
        content_type: row.opt_text("content_type")?,
        size_bytes: row.opt_int("size_bytes")?,
        created_at: time(row.int("created_at")?)?,
        stored_at: opt_time(row.opt_int("stored_at")?)?,
    })
}

#[async_trait]
impl MediaDownloads for SqliteStore {
    async fn claim_downloads(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<MediaRecord>> {
        let owner = owner.to_owned();
        let until = micros(lease_until(now, lease));
        let now = micros(now);
        self.writer
            .run(move |conn| {
                let mut stmt = conn.prepare_cached_text(&format!(
                    "update media_downloads set lease_owner = ?1, lease_until = ?2
                     where id in (
                         select id from media_downloads
                         where status = 'queued' and next_attempt_at <= ?3
                           and (lease_until is null or lease_until <= ?3)
                         order by next_attempt_at, id
                         limit ?4)
                     returning {MEDIA_COLUMNS}"
                ))?;
                let mut rows = stmt.query(params![owner, until, now, limit])?;
                let mut claimed = Vec::new();
                while let Some(row) = rows.next()? {
                    claimed.push(record(row)?);
                }
                claimed.sort_by_key(|r| r.id);
                Ok(claimed)
            })
            .await
    }

    async fn record_download(
        &self,
        id: i64,
        owner: &str,
        outcome: &DownloadOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let owner = owner.to_owned();
        let outcome = outcome.clone();
        let now = micros(now);
        self.writer
            .run(move |conn| {
                let changed = match &outcome {
                    DownloadOutcome::Stored {
                        sha256,
                        content_type,
                        size_bytes,
                    } => conn
                        .prepare_cached(
                            "update media_downloads set
                                 status = 'stored', attempts = attempts + 1, sha256 = ?3,
                                 content_type = ?4, size_bytes = ?5, error = null,
                                 stored_at = ?6, updated_at = ?6,
                                 lease_owner = null, lease_until = null
                             where id = ?1 and lease_owner = ?2",
                        )?
                        .execute(params![id, owner, sha256, content_type, size_bytes, now])?,
                    DownloadOutcome::Retry { at, error } => conn
                        .prepare_cached(
                            "update media_downloads set
                                 attempts = attempts + 1, next_attempt_at = ?3, error = ?4,
                                 updated_at = ?5, lease_owner = null, lease_until = null
                             where id = ?1 and lease_owner = ?2",
                        )?
                        .execute(params![id, owner, micros(*at), error, now])?,
                    DownloadOutcome::Failed { error } => conn
                        .prepare_cached(
                            "update media_downloads set
                                 status = 'failed', attempts = attempts + 1, error = ?3,
                                 updated_at = ?4, lease_owner = null, lease_until = null
                             where id = ?1 and lease_owner = ?2",
                        )?
                        .execute(params![id, owner, error, now])?,
                };
                if changed == 0 {
                    return Err(StoreError::LeaseLost {
                        what: "media download",
                        id,
                    });
                }
                Ok(())
            })
            .await
    }

    async fn event_media(&self, event_id: i64) -> StoreResult<Option<MediaRecord>> {
        shared::event_media(&self.reader, event_id).await
    }

    async fn stored_media(&self, sha256: &str) -> StoreResult<Option<MediaRecord>> {
        shared::stored_media(&self.reader, sha256).await
    }

    async fn sweep_downloads(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<(u64, Vec<String>)> {
        let cutoff = micros(cutoff);
        self.writer
            .run(move |conn| {
                let gone: Vec<Option<String>> = conn
                    .prepare_cached(
                        "delete from media_downloads where id in (
                             select id from media_downloads
                             where created_at < ?1 and (status <> 'queued' or lease_owner is null)
                             order by created_at, id
                             limit ?2)
                         returning sha256",
                    )?
                    .query_map(params![cutoff, limit], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                let deleted = gone.len() as u64;
                let mut files: Vec<String> = gone.into_iter().flatten().collect();
                files.sort();
                files.dedup();
                let mut orphans = Vec::new();
                for sha256 in files {
                    let referenced: bool = conn
                        .prepare_cached(
                            "select exists (select 1 from media_downloads where sha256 = ?1)",
                        )?
                        .query_row([&sha256], |r| r.get(0))?;
                    if !referenced {
                        orphans.push(sha256);
                    }
                }
                Ok((deleted, orphans))
            })
            .await
    }

    async fn downloads_queued(&self) -> StoreResult<i64> {
        shared::downloads_queued(&self.reader).await
    }
}
