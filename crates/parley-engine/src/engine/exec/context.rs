//! The interpreter's parts, grouped by concern so that a step is given only the parts it
//! uses, not the whole interpreter:
//!
//! - `StepCtx`: what the event is (the library, the time, the window, the message…), read
//!   by steps and never changed by them;
//! - the conversation's state (`ConversationState`, the run and its variables), changed by
//!   steps;
//! - `Contact`: the contact as flows see it, with the changes this event makes to it;
//! - `Output`: what the event hands back (replies, timers, insights), the trace and the
//!   notes;
//! - `Control`: the work of the event (its tasks, the step paused for an effect, the turn
//!   of an `agent` step), which only the interpreter's loop and the `agent` step touch.

use super::{Answer, Await, Effect, Library, Note, Pending, StepOutput, Task};
use crate::domain::broadcast::BroadcastReply;
use crate::domain::chat::ChatMessage;
use crate::domain::{ContactPatch, WindowState};
use crate::engine::trace::Trace;
use crate::flows::Flow;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Arc;

/// What a step reads of the event.
pub(super) struct StepCtx<'a> {
    pub(super) library: &'a Library,
    pub(super) sender_id: i64,
    pub(super) now: DateTime<Utc>,
    /// The conversation and the event being handled: what a form's token is made of.
    pub(super) conversation_id: i64,
    pub(super) event_id: i64,
    pub(super) window: WindowState,
    /// The message as flows see it (`scope::message_view`); the held texts of a debounce
    /// replace it when they run as one message.
    pub(super) message: Value,
    /// The provider id of the customer's message this event carries (what `react` reacts
    /// to by default).
    pub(super) inbound_id: Option<String>,
    /// The latest broadcast to the customer that names a reply flow.
    pub(super) broadcast_reply: Option<BroadcastReply>,
}

/// The contact as flows see it, and what this event changes of it.
pub(super) struct Contact {
    /// The contact as flows see it (`scope::contact_view`), with this event's changes.
    pub(super) view: Value,
    /// The changes, as the caller stores them.
    pub(super) patch: ContactPatch,
}

/// What the event hands back to the caller, besides the conversation's state.
pub(super) struct Output {
    pub(super) out: StepOutput,
    /// Filled only when the caller asked for a trace (sandbox, flow tests).
    pub(super) trace: Option<Box<Trace>>,
    pub(super) notes: Vec<Note>,
    /// The flow and step being executed: what a message sent now is attributed to.
    pub(super) at: Option<(Arc<Flow>, usize)>,
    /// The step being run failed (`note_error`) / handed the conversation to a person, since
    /// the run reached it or the customer's turn began (insights).
    pub(super) visit_failed: bool,
    pub(super) visit_handed_off: bool,
    /// An `agent` step with `mask_personal_data` ran: the whole trace of this event is
    /// masked (the customer's message, the variables, the replies), not only its exchanges.
    pub(super) mask_trace: bool,
    /// The experiment arm the run's counts also go to (`arm_track::ArmTrack`).
    pub(super) arm: super::arm_track::ArmTrack,
    /// The conversation: what an agent conversation to score is drawn by (`insight`).
    pub(super) conversation_id: i64,
}

/// The work of the event: what is queued, what waits for an effect, and the `agent` step's
/// turn in progress.
pub(super) struct Control {
    pub(super) tasks: VecDeque<Task>,
    pub(super) pending: Option<Pending>,
    pub(super) answer: Option<Answer>,
    /// The text of the customer message that started a run during this event: the first
    /// turn of an `agent` step the run reaches.
    pub(super) turn_text: Option<String>,
    /// Model calls made for this event so far (each call's place in the record).
    pub(super) model_calls: i64,
    /// The rounds of the `agent` turn in progress.
    pub(super) round: Option<Round>,
}

impl Output {
    /// Records a decision in the trace; the words are only built when tracing.
    pub(super) fn decide(&mut self, words: impl FnOnce() -> String) {
        if let Some(trace) = &mut self.trace {
            trace.decisions.push(words());
        }
    }
}

/// What comes after a step.
pub(super) enum Next {
    To(usize),
    /// `goto_flow`: the first step of another flow.
    Flow(Arc<Flow>),
    /// The run waits or ended.
    Stop,
    /// The step needs this effect's answer.
    Wait(Effect, Await),
}

/// The turn in progress: what the next call sends.
pub(super) struct Round {
    pub(super) messages: Vec<ChatMessage>,
    /// The customer's message this turn answers.
    pub(super) user: String,
    /// Calls made for this turn.
    pub(super) calls: usize,
    /// Texts sent to the customer during this turn.
    pub(super) said: Vec<String>,
    /// Where this turn's passages come from (a file, a page's address), for `cite:`.
    pub(super) sources: Vec<String>,
    /// The similarity of the turn's question to each passage, by embeddings.
    pub(super) similarity: Similarity,
}

/// What embeddings say of the turn's question (`retrieval: { embeddings }`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) enum Similarity {
    /// Not asked yet this turn (or the step has no embeddings).
    #[default]
    NotAsked,
    /// Asked; the answer is awaited.
    Asked,
    /// The cosine of each passage (by index; 0 for those not among the nearest).
    Cosines(Vec<f64>),
    /// Failed or not needed: the turn finds passages with BM25 alone.
    Bm25,
}
