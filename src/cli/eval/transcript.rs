//! What one run of a scenario was (issue 59): the customer's messages, the bot's replies and
//! tool calls, how it ended and what the models used. Written by `run`, read by `judge`,
//! `checks` and `report`.

use std::collections::BTreeMap;

/// What happened in one run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transcript {
    /// 1-based run number.
    pub run: u32,
    pub turns: Vec<Turn>,
    /// How the flow stood at the end.
    pub outcome: Option<super::format::Outcome>,
    /// The contact's variables at the end.
    pub vars: BTreeMap<String, serde_json::Value>,
    /// Why the customer stopped: `goal reached`, `gave up after 6 messages`, `script ended`,
    /// `the conversation ended`.
    pub ended: String,
    /// Model use per role: `agent`, `customer`, `judge`.
    pub usage: BTreeMap<&'static str, Usage>,
    /// The run could not be made (a model failed, Parley did not start): the reason. Its
    /// checks all fail with it.
    pub error: Option<String>,
}

/// One customer message and what the bot did with it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Turn {
    pub customer: String,
    /// The bot's replies, as the customer read them.
    pub replies: Vec<String>,
    /// Tool calls the agent's model proposed this turn, carried out or refused.
    pub tool_calls: Vec<ToolCall>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolCall {
    pub name: String,
    pub arguments: String,
    /// Carried out; `false`: refused (`reason` says why, as the trace does).
    pub accepted: bool,
    pub reason: Option<String>,
}

/// Tokens and cost of one role's model calls.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    pub calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// US dollars.
    pub cost: f64,
}
