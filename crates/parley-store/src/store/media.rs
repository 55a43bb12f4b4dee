//! The values of inbound media downloads: the job a webhook's media becomes, what a
//! download worker claims, what it records, and what the API serves.

use super::Id;
use crate::domain::{InboundContent, InboundMessage, MediaKind};
use chrono::{DateTime, Utc};

/// A download to enqueue with the message that carries the media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDownload {
    pub kind: MediaKind,
    pub media_id: Option<String>,
    pub url: Option<String>,
    pub mime_type: Option<String>,
    pub sha256: Option<String>,
}

impl NewDownload {
    /// The download a message needs: media with a provider id or a URL to fetch it from.
    pub fn of(message: &InboundMessage) -> Option<Self> {
        match &message.content {
            InboundContent::Media {
                media,
                media_id,
                url,
                mime_type,
                sha256,
                ..
            } if media_id.is_some() || url.is_some() => Some(Self {
                kind: *media,
                media_id: media_id.clone(),
                url: url.clone(),
                mime_type: mime_type.clone(),
                sha256: sha256.clone(),
            }),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadStatus {
    Queued,
    Stored,
    Failed,
}

impl DownloadStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            DownloadStatus::Queued => "queued",
            DownloadStatus::Stored => "stored",
            DownloadStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => DownloadStatus::Queued,
            "stored" => DownloadStatus::Stored,
            "failed" => DownloadStatus::Failed,
            _ => return None,
        })
    }
}

/// One inbound media and what became of its download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRecord {
    pub id: Id,
    pub sender_id: i64,
    pub conversation_id: Id,
    pub event_id: Id,
    pub provider_message_id: String,
    pub kind: MediaKind,
    pub media_id: Option<String>,
    pub url: Option<String>,
    pub declared_mime_type: Option<String>,
    pub declared_sha256: Option<String>,
    pub status: DownloadStatus,
    /// Attempts made so far.
    pub attempts: i32,
    pub error: Option<String>,
    /// Hex SHA-256 of the stored file: its name in the media store.
    pub sha256: Option<String>,
    pub content_type: Option<String>,
    pub size_bytes: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub stored_at: Option<DateTime<Utc>>,
}

/// What a download attempt ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadOutcome {
    /// The file is in the media store under `sha256`.
    Stored {
        sha256: String,
        content_type: String,
        size_bytes: i64,
    },
    /// Try again at `at`.
    Retry { at: DateTime<Utc>, error: String },
    /// Given up, with the reason.
    Failed { error: String },
}
