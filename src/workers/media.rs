//! Inbound media downloads: claims queued downloads (leased, so several processes split
//! them and a dead one's are taken over), fetches each file from its provider through the
//! sender's channel, streams it into the media store (bounded by WhatsApp's limit for its
//! kind and `media.max_bytes`, checked against the SHA-256 the provider declared), and
//! records the outcome; a failure is retried on `media.retry`'s schedule like a send. The
//! retention sweep deletes rows and files older than `media.retention`, never a file that
//! a download still refers to. Transactions are never held across a download.

use super::retry::{decide, RetryDecision};
use crate::channels::senders::Senders;
use crate::channels::{FetchError, MediaSource};
use crate::config::{ChannelKind, MediaConfig};
use crate::domain::limits::media_bytes_max;
use crate::domain::Clock;
use crate::metrics as m;
use crate::store::files::{decode_sha256, FileError, MediaFiles};
use crate::store::{DownloadOutcome, DynStore, MediaRecord, StoreError, StoreResult};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The longest a download takes from writing its file to recording it on its row
/// (`MediaWorker::file_grace`).
const FILE_GRACE: Duration = Duration::from_secs(600);

/// Rows the retention sweep deletes per statement.
const SWEEP_PAGE: i64 = 500;
/// Backoff between attempts to record an outcome after a transient database error.
const RECORD_RETRY_FIRST: Duration = Duration::from_millis(100);
const RECORD_RETRY_MAX: Duration = Duration::from_secs(2);
/// What a file is served as when nobody said, or said something unusable.
const OCTET_STREAM: &str = "application/octet-stream";

pub struct MediaWorker {
    pub store: DynStore,
    pub senders: Arc<Senders>,
    pub files: MediaFiles,
    /// Its own client: `media.download_timeout` bounds a whole download, and it follows
    /// a few redirects (Twilio sends its files from storage behind one).
    pub http: reqwest::Client,
    pub clock: Arc<dyn Clock>,
    pub config: MediaConfig,
    pub owner: String,
    pub wake: Arc<Notify>,
}

/// Why an attempt did not store the file.
enum Failure {
    /// Worth another attempt on the retry schedule.
    Retry(String),
    /// Will not get better.
    Permanent(String),
    /// There was never anything to download (a sandbox customer's media without a file):
    /// recorded as failed, but nothing an operator needs to hear about.
    Nothing(String),
}

impl MediaWorker {
    /// The client downloads use (`net::media_client`).
    pub fn http_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
        crate::net::media_client(timeout)
    }

    /// Runs downloads until `shutdown`, then waits for those in flight.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let me = self.clone();
        let claim = move |free: usize| {
            let me = me.clone();
            async move {
                match me
                    .store
                    .claim_downloads(&me.owner, me.clock.now(), me.lease(), free as i64)
                    .await
                {
                    Ok(jobs) => jobs,
                    Err(e) => {
                        crate::metrics::logs::error_every!(error = %e, "claiming media downloads failed");
                        Vec::new()
                    }
                }
            }
        };
        let me = self.clone();
        let run = move |job| {
            let me = me.clone();
            async move { me.download(job).await }
        };
        super::claim_loop(
            Arc::new(tokio::sync::Semaphore::new(self.config.concurrency)),
            self.config.poll_interval,
            self.wake.clone(),
            None,
            shutdown,
            claim,
            run,
        )
        .await;
    }

    /// A download's lease outlasts the download (twice its timeout), so no other process
    /// starts the same download while this one still runs.
    fn lease(&self) -> Duration {
        self.config.download_timeout * 2
    }

    async fn download(&self, job: MediaRecord) {
        let outcome = match self.attempt(&job).await {
            Ok(outcome) => outcome,
            Err(Failure::Permanent(error)) => DownloadOutcome::Failed { error },
            Err(Failure::Retry(error)) => self.retry_or_fail(&job, error),
            Err(Failure::Nothing(error)) => {
                tracing::debug!(download = job.id, %error, "no media file to keep");
                self.record(&job, &DownloadOutcome::Failed { error }).await;
                return;
            }
        };
        match &outcome {
            DownloadOutcome::Stored {
                sha256, size_bytes, ..
            } => {
                metrics::counter!(m::MEDIA_DOWNLOADS, "outcome" => "stored").increment(1);
                metrics::counter!(m::MEDIA_BYTES).increment(*size_bytes as u64);
                tracing::info!(download = job.id, provider_message_id = %job.provider_message_id, %sha256, bytes = size_bytes, "inbound media stored");
            }
            DownloadOutcome::Retry { at, error } => {
                metrics::counter!(m::MEDIA_DOWNLOADS, "outcome" => "retried").increment(1);
                tracing::warn!(download = job.id, provider_message_id = %job.provider_message_id, %error, retry_at = %at, "inbound media download failed; retrying");
            }
            DownloadOutcome::Failed { error } => {
                metrics::counter!(m::MEDIA_DOWNLOADS, "outcome" => "failed").increment(1);
                tracing::warn!(download = job.id, provider_message_id = %job.provider_message_id, %error, "inbound media download failed for good");
            }
        }
        self.record(&job, &outcome).await;
    }

    /// Writes the outcome, retrying a transient database error for a while: a stored file
    /// whose row stays queued would only be downloaded again, so this gives up after a
    /// minute and lets the lease run out.
    async fn record(&self, job: &MediaRecord, outcome: &DownloadOutcome) {
        let mut backoff = RECORD_RETRY_FIRST;
        let mut waited = Duration::ZERO;
        loop {
            match self
                .store
                .record_download(job.id, &self.owner, outcome, self.clock.now())
                .await
            {
                Ok(()) => return,
                Err(e) if e.is_transient() && waited < Duration::from_secs(60) => {
                    tracing::warn!(download = job.id, error = %e, "recording a media download failed; retrying");
                    tokio::time::sleep(backoff).await;
                    waited += backoff;
                    backoff = (backoff * 2).min(RECORD_RETRY_MAX);
                }
                Err(StoreError::LeaseLost { .. }) => {
                    tracing::warn!(
                        download = job.id,
                        "media download lease expired before its outcome was recorded"
                    );
                    return;
                }
                Err(e) => {
                    tracing::error!(download = job.id, error = %e, "recording a media download failed");
                    return;
                }
            }
        }
    }

    fn retry_or_fail(&self, job: &MediaRecord, error: String) -> DownloadOutcome {
        let attempts = job.attempts.max(0) as u32 + 1;
        match decide(
            &self.config.retry,
            attempts,
            job.created_at,
            self.clock.now(),
            None,
            &mut rand::rng(),
        ) {
            RetryDecision::RetryAt(at) => DownloadOutcome::Retry { at, error },
            RetryDecision::GiveUp => DownloadOutcome::Failed {
                error: format!("{error} (gave up after {attempts} attempts)"),
            },
        }
    }

    /// The largest file this download may be.
    fn limit(&self, job: &MediaRecord) -> u64 {
        let whatsapp = media_bytes_max(job.kind);
        self.config
            .max_bytes
            .map_or(whatsapp, |cap| cap.min(whatsapp))
    }

    async fn attempt(&self, job: &MediaRecord) -> Result<DownloadOutcome, Failure> {
        let Some(sender) = self.senders.get(job.sender_id) else {
            return Err(Failure::Permanent(format!(
                "sender {} is not configured any more",
                job.sender_id
            )));
        };
        if sender.config.channel == ChannelKind::Sandbox {
            return self.sandbox_file(job).await;
        }
        let limit = self.limit(job);
        let body = sender
            .channel
            .fetch_media(
                &self.http,
                MediaSource {
                    media_id: job.media_id.as_deref(),
                    url: job.url.as_deref(),
                },
            )
            .await
            .map_err(|e| match e {
                FetchError::Transient(e) => Failure::Retry(e),
                FetchError::TimedOut(e) => Failure::Retry(format!(
                    "the file did not arrive within media.download_timeout ({}): {e}",
                    humantime::format_duration(self.config.download_timeout)
                )),
                FetchError::Permanent(e) => Failure::Permanent(e),
            })?;
        let declared = body.size.into_iter().chain(body.response.content_length());
        if let Some(size) = declared.into_iter().find(|size| *size > limit) {
            return Err(Failure::Permanent(too_large(job, Some(size), limit)));
        }
        // The webhook's hash first (it came signed with the message), else the provider's
        // answer's. A value that is not a SHA-256 at all checks nothing.
        let expected = job
            .declared_sha256
            .as_deref()
            .and_then(decode_sha256)
            .or_else(|| body.sha256.as_deref().and_then(decode_sha256));
        let content_type = [body.mime_type.as_deref(), job.declared_mime_type.as_deref()]
            .into_iter()
            .flatten()
            .find_map(content_type)
            .unwrap_or_else(|| OCTET_STREAM.to_string());
        let mut response = body.response;
        let mut file = self.files.create(limit).await.map_err(file_failure)?;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => file.write(&chunk).await.map_err(|e| match e {
                    FileError::TooLarge { .. } => Failure::Permanent(too_large(job, None, limit)),
                    other => file_failure(other),
                })?,
                Ok(None) => break,
                // The client's whole-download timeout ends a body that trickles in.
                Err(e) if e.is_timeout() => {
                    return Err(Failure::Retry(format!(
                        "the file did not arrive within media.download_timeout ({}): {} bytes came",
                        humantime::format_duration(self.config.download_timeout),
                        file.written()
                    )))
                }
                Err(e) => {
                    return Err(Failure::Retry(format!(
                        "the download broke off after {} bytes: {e}",
                        file.written()
                    )))
                }
            }
        }
        let stored = file.finish(expected.as_ref()).await.map_err(file_failure)?;
        Ok(DownloadOutcome::Stored {
            sha256: stored.sha256,
            content_type,
            size_bytes: stored.size as i64,
        })
    }

    /// A sandbox customer's file was put in the store when it was typed in (the sandbox
    /// has no provider to download from): only its presence is checked.
    async fn sandbox_file(&self, job: &MediaRecord) -> Result<DownloadOutcome, Failure> {
        let sha256 = job
            .declared_sha256
            .as_deref()
            .and_then(decode_sha256)
            .map(hex::encode);
        let Some(sha256) = sha256 else {
            return Err(Failure::Nothing(
                "the sandbox customer attached no file (send `media.data`, base64)".into(),
            ));
        };
        match self.files.open(&sha256).await {
            Ok(Some((_, size))) => Ok(DownloadOutcome::Stored {
                sha256,
                content_type: job
                    .declared_mime_type
                    .as_deref()
                    .and_then(content_type)
                    .unwrap_or_else(|| OCTET_STREAM.to_string()),
                size_bytes: size as i64,
            }),
            Ok(None) => Err(Failure::Permanent(format!(
                "the sandbox file {sha256} is not in the media store"
            ))),
            Err(e) => Err(Failure::Retry(format!(
                "the media folder could not be read: {e}"
            ))),
        }
    }

    /// Runs the retention sweep every `media.sweep_interval` until `shutdown`.
    pub async fn sweep_loop(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.sweep().await {
                tracing::error!(error = %e, "the media retention sweep failed; trying again later");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.sweep_interval) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// How recently written (by the file system's clock) a file no row refers to may be
    /// and still be kept: it may be a newer message's with the same bytes, whose download
    /// has written it but not recorded it on its row yet. Short against the retention: a
    /// file is written after its row by as long as its download took, and one whose last
    /// row goes in the first sweep past that row's retention must be old enough to go
    /// with it (with `now - retention` here, such a file stayed for ever).
    fn file_grace(&self) -> Duration {
        (self.config.retention / 4).min(FILE_GRACE)
    }

    /// Deletes downloads that arrived more than `media.retention` ago, and the files no
    /// remaining download refers to. Returns how many rows and files it deleted.
    pub async fn sweep(&self) -> StoreResult<(u64, u64)> {
        let retention =
            chrono::Duration::from_std(self.config.retention).unwrap_or(chrono::Duration::MAX);
        let cutoff = self.clock.now() - retention;
        let (mut rows, mut files) = (0, 0);
        loop {
            let file_cutoff = std::time::SystemTime::now()
                .checked_sub(self.file_grace())
                .unwrap_or(std::time::UNIX_EPOCH);
            let (deleted, orphans) = self.store.sweep_downloads(cutoff, SWEEP_PAGE).await?;
            rows += deleted;
            for sha256 in orphans {
                match self.files.remove_if_older(&sha256, file_cutoff).await {
                    Ok(true) => files += 1,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(%sha256, error = %e, "a media file past its retention could not be deleted")
                    }
                }
            }
            if deleted < SWEEP_PAGE as u64 {
                break;
            }
        }
        // A download lasts at most `download_timeout`, writing as it goes: a temporary
        // file untouched for longer (and a minute) is a killed process's.
        let stale = std::time::SystemTime::now()
            .checked_sub(self.config.download_timeout + Duration::from_secs(60))
            .unwrap_or(std::time::UNIX_EPOCH);
        match self.files.remove_stale_parts(stale).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                files = n,
                "deleted half-written media downloads left by a stopped process"
            ),
            Err(e) => tracing::warn!(error = %e, "reading the media folder's tmp/ failed"),
        }
        if rows > 0 || files > 0 {
            metrics::counter!(m::MEDIA_SWEPT, "what" => "rows").increment(rows);
            metrics::counter!(m::MEDIA_SWEPT, "what" => "files").increment(files);
            tracing::info!(rows, files, "deleted inbound media past media.retention");
        }
        Ok((rows, files))
    }
}

/// `size`: what the provider declared; `None` when the stream itself ran past the limit.
fn too_large(job: &MediaRecord, size: Option<u64>, limit: u64) -> String {
    let size = size.map_or_else(|| format!("more than {limit}"), |s| s.to_string());
    format!(
        "the {} is {size} bytes, over the {limit} bytes allowed for it",
        job.kind.as_str()
    )
}

fn file_failure(e: FileError) -> Failure {
    match e {
        // A mismatch may be a download corrupted on the way: try again, then give up
        // with this reason.
        FileError::Mismatch { .. } => Failure::Retry(e.to_string()),
        FileError::TooLarge { .. } => Failure::Permanent(e.to_string()),
        FileError::Io(_) => Failure::Retry(e.to_string()),
    }
}

/// A MIME type as the file will be served: `type/subtype` with its parameters, printable
/// ASCII only and not too long; `None` for anything else.
fn content_type(text: &str) -> Option<String> {
    let text = text.trim();
    let essence = text.split(';').next().unwrap_or_default().trim();
    let (kind, sub) = essence.split_once('/')?;
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let printable = text.bytes().all(|b| (0x20..0x7f).contains(&b));
    (token(kind) && token(sub) && printable && text.len() <= 200).then(|| text.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::content_type;

    /// A body that trickles in past `media.download_timeout` ends with the client's
    /// timeout, which the download's failure names as such (it read "error decoding
    /// response body").
    #[tokio::test]
    async fn a_trickled_download_ends_with_a_timeout_error() {
        let addr = crate::net::trickling_server().await;
        let client = super::MediaWorker::http_client(std::time::Duration::from_secs(1)).unwrap();
        let mut response = client.get(format!("http://{addr}/f")).send().await.unwrap();
        let error = loop {
            match response.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the whole body came"),
                Err(e) => break e,
            }
        };
        assert!(error.is_timeout(), "{error:?}");
    }

    #[test]
    fn content_types_are_kept_only_when_well_formed() {
        assert_eq!(content_type("image/jpeg").as_deref(), Some("image/jpeg"));
        assert_eq!(
            content_type("audio/ogg; codecs=opus").as_deref(),
            Some("audio/ogg; codecs=opus")
        );
        assert_eq!(content_type("Image/PNG").as_deref(), Some("image/png"));
        for bad in [
            "",
            "jpeg",
            "image/",
            "/x",
            "text/html\r\nSet-Cookie: a=b",
            "a b/c",
        ] {
            assert_eq!(content_type(bad), None, "{bad:?}");
        }
        assert_eq!(content_type(&format!("image/{}", "x".repeat(300))), None);
    }
}
