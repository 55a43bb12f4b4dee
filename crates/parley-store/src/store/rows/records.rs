//! Outbound messages, model exchanges, their usage and inbound media downloads, as rows.

use super::columns::{time, Stamp};
use crate::domain::{MediaKind, OutboundMessage, WindowFallback};
use crate::store::{
    apply, DownloadStatus, ExchangeKind, Id, MediaRecord, ModelExchange, OutboundRecord, StoreError,
};
use serde_json::Value;
use sqlx::types::Json;

/// An `outbound_messages` row (`sql::OUTBOUND_COLUMNS`); an origin or status Parley does
/// not know is corrupt.
#[derive(sqlx_macros::FromRow)]
pub(crate) struct OutboundCols {
    id: Id,
    sender_id: i64,
    conversation_id: Id,
    payload: Json<OutboundMessage>,
    fallback: Json<WindowFallback>,
    origin: String,
    status: String,
    provider_message_id: Option<String>,
    error_code: Option<i64>,
    error_title: Option<String>,
    window_closed: bool,
    attempts: i32,
    created_at: Stamp,
    updated_at: Stamp,
}

impl TryFrom<OutboundCols> for OutboundRecord {
    type Error = StoreError;

    fn try_from(r: OutboundCols) -> Result<Self, StoreError> {
        Ok(OutboundRecord {
            id: r.id,
            sender_id: r.sender_id,
            conversation_id: r.conversation_id,
            message: r.payload.0,
            fallback: r.fallback.0,
            origin: apply::origin(&r.origin)?,
            status: apply::status(&r.status)?,
            provider_message_id: r.provider_message_id,
            error_code: r.error_code,
            error_title: r.error_title,
            window_closed: r.window_closed,
            attempts: r.attempts,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        })
    }
}

/// A `model_exchanges` row (`sql::MODEL_EXCHANGE`).
#[derive(sqlx_macros::FromRow)]
pub(crate) struct ExchangeCols {
    conversation_id: Id,
    event_id: Id,
    seq: i64,
    kind: String,
    flow: String,
    step: String,
    model: String,
    request: Json<Value>,
    answer: Option<Json<Value>>,
    error: Option<String>,
    input_tokens: i64,
    output_tokens: i64,
    cost_micros: i64,
    latency_ms: i64,
    created_at: Stamp,
}

impl From<ExchangeCols> for ModelExchange {
    fn from(r: ExchangeCols) -> Self {
        ModelExchange {
            conversation_id: r.conversation_id,
            event_id: r.event_id,
            seq: r.seq,
            kind: ExchangeKind::parse(&r.kind),
            flow: r.flow,
            step: r.step,
            model: r.model,
            request: r.request.0,
            answer: r.answer.map(|a| a.0),
            error: r.error,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cost_micros: r.cost_micros,
            latency_ms: r.latency_ms,
            created_at: r.created_at.0,
        }
    }
}

/// A `media_downloads` row (`sql::MEDIA_COLUMNS`); a kind or status Parley does not know
/// is corrupt.
#[derive(sqlx_macros::FromRow)]
pub(crate) struct MediaCols {
    id: Id,
    sender_id: i64,
    conversation_id: Id,
    event_id: Id,
    provider_message_id: String,
    kind: String,
    media_id: Option<String>,
    url: Option<String>,
    declared_mime_type: Option<String>,
    declared_sha256: Option<String>,
    status: String,
    attempts: i32,
    error: Option<String>,
    sha256: Option<String>,
    content_type: Option<String>,
    size_bytes: Option<i64>,
    created_at: Stamp,
    stored_at: Option<Stamp>,
}

impl TryFrom<MediaCols> for MediaRecord {
    type Error = StoreError;

    fn try_from(r: MediaCols) -> Result<Self, StoreError> {
        Ok(MediaRecord {
            id: r.id,
            sender_id: r.sender_id,
            conversation_id: r.conversation_id,
            event_id: r.event_id,
            provider_message_id: r.provider_message_id,
            kind: MediaKind::parse(&r.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("media kind `{}`", r.kind)))?,
            media_id: r.media_id,
            url: r.url,
            declared_mime_type: r.declared_mime_type,
            declared_sha256: r.declared_sha256,
            status: DownloadStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("download status `{}`", r.status)))?,
            attempts: r.attempts,
            error: r.error,
            sha256: r.sha256,
            content_type: r.content_type,
            size_bytes: r.size_bytes,
            created_at: r.created_at.0,
            stored_at: time(r.stored_at),
        })
    }
}
