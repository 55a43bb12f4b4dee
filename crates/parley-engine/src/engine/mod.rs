//! The conversation engine: given a conversation, its contact and one event, decide what
//! happens — new state, replies, contact changes, timers. It touches no database; the inbox
//! worker commits its output in one transaction.
//!
//! The interpreter (`exec`) is synchronous and pure: when a step needs I/O (an `http` step's
//! request, a script on the script pool, a model call) it hands out an `Effect`, which
//! `FlowEngine` (`driver/`, the only part that reaches the network, the store or the
//! channels, one file per kind of effect) performs outside any transaction before resuming
//! it with the answer. This file holds the engine's types and its trait.

mod answer;
mod driver;
mod exec;
pub mod guard;
mod http_step;
mod library;
mod scope;
mod script_pool;
pub mod slot;
pub mod template;
pub mod trace;

pub use driver::{EngineOptions, FlowEngine, VOICE_NOTES};
pub use exec::language;
pub use exec::{
    Answer, Effect, EmbedCall, ModelCall, ModelReply, Nearest, Note, ScriptJob, NEAREST_MAX,
};
pub use http_step::{HttpRequest, Reach};
pub use library::Library;
pub use script_pool::{PoolError, ScriptPool};
pub use template::{render, render_json};

use crate::domain::{
    Contact, ContactPatch, Conversation, ConversationState, NewTimer, OutboundContent, StoredEvent,
    TimerKind, WindowFallback, WindowState,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// What the engine sees for one event.
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    pub conversation: &'a Conversation,
    pub contact: &'a Contact,
    pub event: &'a StoredEvent,
    pub window: &'a WindowState,
    pub now: DateTime<Utc>,
    /// The latest broadcast sent to the customer that names a reply flow.
    pub broadcast_reply: Option<&'a crate::domain::broadcast::BroadcastReply>,
}

/// A message the engine wants sent, with what to do if the window is closed by then.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub content: OutboundContent,
    pub fallback: WindowFallback,
    /// The flow and step that sent it (`None` for messages no step sent, such as the
    /// opt-out reply). The step is its `id`, or its place (`step 2 (line 17)`).
    pub flow: Option<String>,
    pub step: Option<String>,
}

/// Everything one event produced; committed together.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutput {
    pub state: ConversationState,
    pub contact_patch: Option<ContactPatch>,
    pub replies: Vec<Reply>,
    pub timers: Vec<NewTimer>,
    pub cancel_timers: Vec<TimerKind>,
    /// What the event adds to the flow insights' counters (committed with the rest).
    pub insights: crate::domain::insight::Tally,
    /// The step waited on something outside Parley (a model, an `http` step, a voice
    /// note's transcription): its replies are queued when it returns, not when it began.
    pub waited: bool,
}

impl StepOutput {
    /// Nothing happens; the state stays as it was.
    pub fn unchanged(state: &ConversationState) -> Self {
        Self {
            state: state.clone(),
            contact_patch: None,
            replies: Vec::new(),
            timers: Vec::new(),
            cancel_timers: Vec::new(),
            insights: Default::default(),
            waited: false,
        }
    }
}

#[async_trait]
pub trait Engine: Send + Sync + 'static {
    async fn handle(&self, input: StepInput<'_>) -> StepOutput;
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
