//! What the engine keeps per conversation, stored as JSON in the conversation row: the run
//! in progress (flow, version, step, variables, what it waits for) and any handoff.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Run>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<Handoff>,
    /// Customer messages seen in this conversation (0 before the first).
    #[serde(default)]
    pub messages_seen: u64,
    /// Runs started so far, to give each an id timers can refer to.
    #[serde(default)]
    pub runs_started: u64,
    /// Texts held back by a debounce quiet period, in arrival order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_texts: Vec<String>,
    /// The last step error, for the trace and the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<StepError>,
    /// Scheduled flows that reached the contact while a run waited (an `ask`, a `delay`):
    /// they start, in order, once that run has ended, instead of replacing it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<ScheduledRun>,
}

impl ConversationState {
    pub fn from_value(v: &Value) -> Self {
        if v.is_null() {
            return Self::default();
        }
        serde_json::from_value(v.clone()).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "conversation state unreadable; starting fresh");
            Self::default()
        })
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: u64,
    pub flow: String,
    /// The flow version the run started on; it finishes on it after a hot reload.
    pub version: u64,
    pub step: usize,
    #[serde(default)]
    pub vars: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<Wait>,
    /// Buttons or list rows of the last interactive message, for typed answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offered: Vec<(String, String)>,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "for", rename_all = "snake_case")]
pub enum Wait {
    /// An `ask` waits for the customer's answer.
    Answer { step: usize, attempts: u32 },
    /// A `delay` waits for its timer.
    Delay { step: usize },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub flow: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepError {
    pub flow: String,
    pub step: usize,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// Timer purposes and their payloads.
pub const ASK_TIMEOUT: &str = "ask_timeout";
pub const DELAY: &str = "delay";
pub const HANDOFF_TIMEOUT: &str = "handoff_timeout";
pub const DEBOUNCE: &str = "debounce";
/// A scheduled flow reaches this conversation (payload: `ScheduledRun`).
pub const SCHEDULED: &str = "scheduled";
/// An agent hands the conversation back to the bot.
pub const RELEASE: &str = "release";
/// Prefix of the timers of `window_closing` triggers: `window_closing:<flow id>`.
pub const WINDOW_CLOSING: &str = "window_closing:";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledRun {
    pub flow: String,
    pub fire_id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowClosingPayload {
    /// The window this reminder belongs to; a newer customer message makes it stale.
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimerPayload {
    pub run: u64,
    pub step: usize,
}
