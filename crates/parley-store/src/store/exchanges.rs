//! Language-model exchanges and voice-note transcripts, recorded before anything they led
//! to is sent: a step run again after a crash finds its answer here instead of asking the
//! model again. The same rows are the usage and cost ledger of models.

use crate::domain::Id;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// What a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeKind {
    /// An `agent` step's model call.
    Chat,
    /// A voice note's transcription.
    Transcript,
}

impl ExchangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Chat => "chat",
            ExchangeKind::Transcript => "transcript",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "transcript" => ExchangeKind::Transcript,
            _ => ExchangeKind::Chat,
        }
    }
}

/// The `seq` of a voice note's transcript: its event's call number -1 (an event's model
/// calls count from 0).
pub const TRANSCRIPT_SEQ: i64 = -1;

/// One call and its answer (or why there was none), keyed by the event it was made for and
/// its place among that event's calls.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelExchange {
    pub conversation_id: Id,
    pub event_id: Id,
    /// 0, 1, … in the order the event's steps made the calls.
    pub seq: i64,
    pub kind: ExchangeKind,
    pub flow: String,
    /// The step as its author finds it: `step 3 (line 12)`.
    pub step: String,
    pub model: String,
    /// The request as sent (personal data masked when the step asks for it).
    pub request: Value,
    /// The answer (`ChatAnswer` JSON, or `{"text", "seconds", "cut_from"}` for a
    /// transcript); `None` when the call failed.
    pub answer: Option<Value>,
    pub error: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Millionths of a US dollar.
    pub cost_micros: i64,
    pub latency_ms: i64,
    pub created_at: DateTime<Utc>,
}

/// Usage summed over a group of exchanges (a model, a flow, a conversation): a row of
/// `Exchanges::model_usage`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx_macros::FromRow)]
pub struct UsageRow {
    /// The model, flow or conversation id the row sums.
    pub key: String,
    pub calls: i64,
    pub failed: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
}

/// How `usage` groups the exchanges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageBy {
    Model,
    Flow,
    Conversation,
}

impl UsageBy {
    pub(super) fn column(self) -> &'static str {
        match self {
            UsageBy::Model => "model",
            UsageBy::Flow => "flow",
            UsageBy::Conversation => "conversation_id",
        }
    }
}
