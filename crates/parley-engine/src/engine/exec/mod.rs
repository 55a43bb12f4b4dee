//! The interpreter: runs a conversation's flow for one event — start a run when a trigger
//! matches, feed an answer to the `ask` waiting for it, or resume after a timer — then
//! executes steps until the run waits or ends. A step error takes the step's `on_error`
//! path, or ends the run; either way the conversation goes on.
//!
//! It is synchronous and does no I/O. When a step needs the outside world (an `http` step's
//! request, Rhai code on the script pool) `Interpreter::next` hands out an `Effect`; the
//! caller (`FlowEngine::run`) performs it and gives the answer back with `resume`, and the
//! interpreter goes on from exactly where it stopped. What deserves a log line is kept in
//! `Finished::notes` for the caller to log.
//!
//! The work of one event is a queue of tasks (handle a message, fire a timer, execute from a
//! step, start a deferred scheduled run…): each task's last act may queue the next, as a
//! tail call would, so pausing for an effect only needs the step it paused in (`Pending`).
//!
//! - `dispatch`: a customer's message (triggers, answers), runs starting.
//! - `timers`: a timer due, a scheduled run, and the scheduled runs waiting for one.
//! - `steps`: the step loop, one function per kind of step.
//! - `form`: the `form` step and the submissions that answer it (by their token).
//! - `render`: messages built from `send` specs.
//! - `vars`: the values flows see, variables, contact changes and timers.
//! - `routing`: the thread's owner under Meta's conversation routing, and the handoff's
//!   pass and take.

pub(crate) mod agent;
mod arm_track;
mod context;
mod dispatch;
mod experiments;
mod form;
mod insight;
pub mod language;
mod render;
mod routing;
mod steps;
mod timers;
mod vars;

use super::http_step::HttpRequest;
use super::trace::Trace;
use super::{scope, Library, StepInput, StepOutput};
use crate::domain::{
    ContactPatch, ConversationState, EventKind, InboundMessage, ScheduledRun, TimerFire,
};
use crate::flows::{script, Flow};
use chrono::{DateTime, Utc};
use context::{Contact, Control, Output, StepCtx};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Arc;

/// I/O a step needs done before the interpreter can go on.
pub enum Effect {
    /// An `http` step's request.
    Http(HttpRequest),
    /// Rhai code (a condition, a value, a `script` step) to run on the script pool.
    Script(ScriptJob),
    /// An `agent` step's call to a language model.
    Model(Box<ModelCall>),
    /// The similarity of a turn's question to an `agent` step's passages, by embeddings.
    Embed(Box<EmbedCall>),
}

pub use agent::{EmbedCall, ModelCall, ModelReply, Nearest, NEAREST_MAX};

/// A script and what it sees: the run's `vars`, the contact and the message.
pub struct ScriptJob {
    pub ast: Arc<rhai::AST>,
    pub inputs: script::Inputs,
}

/// What an `Effect` came back with.
pub enum Answer {
    /// `{ status, ok, body }` on any HTTP answer; a sentence otherwise (`http_step::call`).
    Http(Result<Value, String>),
    /// The script's outcome, or why it failed or could not run.
    Script(Result<script::Outcome, String>),
    /// The model's answer (recorded before it is used), or why there is none.
    Model(Result<ModelReply, String>),
    /// The passages nearest the question (recorded before they are used), or why there are
    /// none: the turn then finds its passages with BM25 alone.
    Embed(Result<Nearest, String>),
}

/// Something the caller logs.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// A step failed (it took its `on_error` path, or the run ended).
    StepFailed {
        flow: String,
        /// The step as the file names it: `step 2 (line 17)`.
        step: String,
        message: String,
    },
    /// A `handoff` step handed the conversation to a person.
    HandedOff {
        flow: String,
        until: Option<DateTime<Utc>>,
    },
    /// A scheduled flow could not wait for the run in progress: too many already wait.
    DeferredDropped { flow: String, max: usize },
    /// The run waited where its flow no longer waits (the flow was removed, or changed
    /// before a restart): it ended, and the customer's message was taken as a new one.
    RunLost { flow: String, why: String },
    /// A form submission was handled: `completed`, `invalid` (did not fit the declared
    /// fields), `stale` (a Parley token no step waits for) or `foreign` (not Parley's token).
    FormReply {
        outcome: &'static str,
        flow: Option<String>,
        token: Option<String>,
    },
}

/// Everything the interpreter produced for the event.
pub struct Finished {
    pub out: StepOutput,
    pub trace: Option<Box<Trace>>,
    pub notes: Vec<Note>,
}

/// A unit of work; each is the tail of the one that queued it.
enum Task {
    Message(InboundMessage),
    Timer(TimerFire),
    /// Runs the held texts as one message, `like` giving its other fields.
    Flush(InboundMessage),
    Handle {
        message: InboundMessage,
        new_contact: bool,
    },
    Execute {
        flow: Arc<Flow>,
        pc: usize,
    },
    /// A customer message for the `agent` step at `pc`.
    AgentTurn {
        flow: Arc<Flow>,
        pc: usize,
        text: String,
    },
    /// A scheduled flow that waited for another run to end.
    ScheduledAfterWait(ScheduledRun),
    StartDeferred,
}

/// Where a step waits for its effect's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Await {
    If,
    Switch,
    /// The `index`-th assignment of a `set` step.
    Set {
        index: usize,
    },
    Script,
    Http,
    Agent,
    /// An `agent` step's question's embeddings.
    Embed,
}

/// How `execute` starts at its step.
enum Entry {
    /// Runs the step.
    Step,
    /// Gives the step the answer of the effect it waited for.
    Resume(Await, Answer),
    /// Gives the `agent` step a customer message.
    AgentTurn(String),
}

/// A step paused for an effect, with the step budget left.
struct Pending {
    flow: Arc<Flow>,
    pc: usize,
    budget: usize,
    at: Await,
}

/// The interpreter of one event, in parts (`context`): steps are given the parts they use.
pub struct Interpreter<'a> {
    ctx: StepCtx<'a>,
    state: ConversationState,
    contact: Contact,
    output: Output,
    ctl: Control,
}

impl<'a> Interpreter<'a> {
    pub fn new(library: &'a Library, input: &StepInput<'_>, mut trace: Option<Box<Trace>>) -> Self {
        let state = input.conversation.state.clone();
        let arm = arm_track::ArmTrack::of(&state, input.now);
        let (message, first) = match &input.event.kind {
            EventKind::Message(m) => (
                scope::message_view(Some(&m.content)),
                Task::Message(m.clone()),
            ),
            EventKind::Timer(t) => (scope::message_view(None), Task::Timer(t.clone())),
        };
        if let Some(t) = &mut trace {
            t.begin(input, &state, library);
        }
        Self {
            ctx: StepCtx {
                library,
                sender_id: input.conversation.sender_id,
                now: input.now,
                conversation_id: input.conversation.id,
                event_id: input.event.id,
                window: input.window.clone(),
                message,
                inbound_id: match &input.event.kind {
                    EventKind::Message(m) => Some(m.provider_message_id.clone()),
                    EventKind::Timer(_) => None,
                },
                broadcast_reply: input.broadcast_reply.cloned(),
            },
            state,
            contact: Contact {
                view: scope::contact_view(input.contact),
                patch: ContactPatch::default(),
            },
            output: Output {
                out: StepOutput::unchanged(&ConversationState::default()),
                trace,
                notes: Vec::new(),
                at: None,
                visit_failed: false,
                visit_handed_off: false,
                mask_trace: false,
                arm,
                conversation_id: input.conversation.id,
            },
            ctl: Control {
                tasks: VecDeque::from([first, Task::StartDeferred]),
                pending: None,
                answer: None,
                turn_text: None,
                model_calls: 0,
                round: None,
            },
        }
    }

    /// Whether the step waiting for its effect belongs to a flow that shows "typing…"
    /// while it waits.
    pub fn waits_in_typing_flow(&self) -> bool {
        self.ctl.pending.as_ref().is_some_and(|p| p.flow.typing)
    }

    /// Runs until a step needs an effect (performed by the caller, then `resume`) or the
    /// event is done (`None`).
    pub fn next(&mut self) -> Option<Effect> {
        loop {
            if let Some(p) = self.ctl.pending.take() {
                let Some(answer) = self.ctl.answer.take() else {
                    // Not resumed: the step stays paused.
                    self.ctl.pending = Some(p);
                    return None;
                };
                if let Some(effect) =
                    self.execute(p.flow, p.pc, p.budget, Entry::Resume(p.at, answer))
                {
                    return Some(effect);
                }
                continue;
            }
            let task = self.ctl.tasks.pop_front()?;
            if let Some(effect) = self.run(task) {
                return Some(effect);
            }
        }
    }

    /// The answer to the effect `next` handed out.
    pub fn resume(&mut self, answer: Answer) {
        self.ctl.answer = Some(answer);
    }

    pub fn finish(self) -> Finished {
        let Output {
            mut out,
            mut trace,
            notes,
            mask_trace,
            ..
        } = self.output;
        out.state = self.state;
        if !self.contact.patch.is_empty() {
            out.contact_patch = Some(self.contact.patch);
        }
        if let Some(t) = &mut trace {
            t.finish(&out.state, &out, self.ctx.library);
            if mask_trace {
                t.mask_personal_data(self.ctx.message["text"].as_str());
            }
        }
        Finished { out, trace, notes }
    }

    fn run(&mut self, task: Task) -> Option<Effect> {
        self.output.at = None;
        match task {
            Task::Message(m) => self.on_message(m),
            Task::Timer(t) => self.on_timer(t),
            Task::Flush(like) => self.flush_pending(&like),
            Task::Handle {
                message,
                new_contact,
            } => self.handle_message(&message, new_contact),
            Task::Execute { flow, pc } => {
                return self.execute(flow, pc, steps::MAX_STEPS, Entry::Step)
            }
            Task::AgentTurn { flow, pc, text } => {
                return self.execute(flow, pc, steps::MAX_STEPS, Entry::AgentTurn(text))
            }
            Task::ScheduledAfterWait(run) => self.scheduled_after_wait(&run),
            Task::StartDeferred => self.start_deferred(),
        }
        None
    }

    /// Queues `tasks` to run next, in order, before anything queued earlier.
    fn then<const N: usize>(&mut self, tasks: [Task; N]) {
        for t in tasks.into_iter().rev() {
            self.ctl.tasks.push_front(t);
        }
    }
}

#[cfg(test)]
mod tests;
