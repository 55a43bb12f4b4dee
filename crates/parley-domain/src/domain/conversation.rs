//! A conversation as stored, with what the engine keeps for it: the run in progress (flow,
//! version, step, variables, what it waits for) and any handoff, stored as JSON in the
//! conversation row (read once, where the store reads the row).

use super::{Id, ScheduledRun};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: Id,
    pub sender_id: i64,
    pub contact_id: Id,
    /// Provider timestamp of the customer's latest message; the window runs from here.
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// The flow engine's state for this conversation (its run); empty when idle.
    pub state: ConversationState,
    pub created_at: DateTime<Utc>,
}

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
    /// What language models cost this conversation so far (`agent` budgets).
    #[serde(default, skip_serializing_if = "ModelSpend::is_zero")]
    pub model_spend: ModelSpend,
    /// The customer's latest click-to-WhatsApp ad message and the free window it opened
    /// (pricing: `domain::pricing::EntryPoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<super::pricing::EntryPoint>,
    /// The broadcast recipient whose reply already started its `reply_flow` (each
    /// broadcast routes one reply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast_replied: Option<super::Id>,
    /// The thread's owner under Meta's conversation routing, once a routing event was seen
    /// (`None`: never; Parley's as always). Kept by the engine, committed with each step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<super::ThreadState>,
    /// The arm of each experiment this conversation met, by experiment name (issue 58).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub experiments: std::collections::BTreeMap<String, super::experiment::ArmChoice>,
}

/// Tokens and cost a conversation spent on language models.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSpend {
    pub tokens: u64,
    /// Millionths of a US dollar.
    pub cost_micros: u64,
}

impl ModelSpend {
    pub fn is_zero(&self) -> bool {
        self.tokens == 0 && self.cost_micros == 0
    }
}

impl ConversationState {
    /// Reads the stored JSON; `null` (a conversation the engine never ran) is the empty
    /// state.
    pub fn parse(v: &Value) -> Result<Self, serde_json::Error> {
        if v.is_null() {
            return Ok(Self::default());
        }
        serde_json::from_value(v.clone())
    }

    /// The stored JSON.
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
    /// The experiment arm the run's insights are counted under (a `split` it passed, or
    /// the version of its flow it was served).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<super::experiment::RunArm>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "for", rename_all = "snake_case")]
pub enum Wait {
    /// An `ask` waits for the customer's answer.
    Answer { step: usize, attempts: u32 },
    /// A `delay` waits for its timer.
    Delay { step: usize },
    /// A `form` waits for the submission carrying `token` (kept here, in the conversation's
    /// row, so a form submitted after a restart completes the right step).
    Form { step: usize, token: String },
    /// An `agent` step holds the conversation: each customer message is a turn.
    Agent {
        step: usize,
        /// Customer messages answered so far.
        turns: u32,
        /// The exchange so far (customer and assistant texts), the last `history` of it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        transcript: Vec<super::chat::ChatMessage>,
    },
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
