//! The `agent` step: a language model holds the conversation like an `ask` does. Each
//! customer message is a turn; the step builds the request (scope, instructions, the
//! passages its knowledge has on the message, the exchange so far, the tools the author
//! declared), hands it out as an `Effect::Model`, and checks the answer before anything
//! happens. The model proposes, the step disposes:
//!
//! - text is sent free-form only if it passes the step's guardrails; a refused answer goes
//!   back to the model with the reason;
//! - a tool call is carried out only if the author declared that tool and its arguments pass
//!   the same checks as a customer's answer; otherwise the model is told why;
//! - at most `MAX_ROUNDS` calls per customer message, and none that would go over the
//!   conversation's budget.
//!
//! The caller records each answer before resuming the step (`FlowEngine`), so a step run
//! again after a crash gets the same answers and sends the same replies once.

use super::context::{Next, Round};
use super::render::clip;
use super::steps::hand_off;
use super::vars::set_var;
use super::{Await, Effect, Interpreter};
use crate::domain::chat::{
    self, dollars, ChatAnswer, ChatMessage, ChatRequest, ToolCall, ToolSpec,
};
use crate::domain::text::shorten;
use crate::domain::{limits, InboundContent, OutboundContent, ReplyButton, Wait};
use crate::engine::trace::{self, TraceExchange};
use crate::engine::{answer, guard};
use crate::flows::{AgentSpec, Expect, Flow, Op};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

mod budget;
mod cite;
mod embed;
mod prompt;
mod retrieve;
mod tools;

pub use embed::{EmbedCall, Nearest, NEAREST_MAX};

use prompt::*;
use tools::*;

/// Model calls one customer message may lead to (tool results and refused answers go back
/// to the model); beyond it the step's `on_error` applies.
pub const MAX_ROUNDS: usize = 4;

/// Tool calls of one answer that are looked at; the rest are not carried out, and the
/// model is told so with the results of those that were.
pub const MAX_TOOL_CALLS: usize = 8;

/// Characters of the model's own words (its text, a tool's name or arguments) quoted back to
/// it in a refusal.
pub const ECHO_MAX: usize = 200;

/// Characters of a tool's result or a refusal's reason that go back to the model.
const RESULT_MAX: usize = 1_000;

/// Characters of a tool call's arguments (as JSON) kept in the conversation for the next
/// call; longer ones go back as a shortened text.
const KEPT_ARGUMENTS_MAX: usize = 1_000;

/// Characters of a tool call's name and id kept for the next call: OpenAI's names are at
/// most 64, so a longer one was never a tool.
const KEPT_NAME_MAX: usize = 64;

/// A model call an `agent` step waits for, with what the caller needs to record it.
#[derive(Debug, Clone)]
pub struct ModelCall {
    pub model: String,
    pub request: ChatRequest,
    pub conversation_id: i64,
    pub event_id: i64,
    /// The call's place among this event's calls.
    pub seq: i64,
    pub flow: String,
    /// The step as its author finds it: `step 3 (line 12)`.
    pub step: String,
    pub timeout: Duration,
    /// Mask personal data in what is recorded of the request.
    pub mask: bool,
    /// When the event is handled (the record's time).
    pub now: chrono::DateTime<chrono::Utc>,
}

/// A model's answer as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelReply {
    pub answer: ChatAnswer,
    /// Millionths of a US dollar.
    pub cost_micros: u64,
    pub latency_ms: u64,
    /// Read from the record of an earlier try of this event: no new call was made.
    pub replayed: bool,
}

/// Why an agent step stops early.
#[derive(Clone, Copy)]
enum Exit {
    Error,
    Budget,
}

/// What a tool call came to.
struct ToolOutcome {
    /// What the model is told.
    result: String,
    accepted: bool,
    /// The turn ends here (goto_flow, handoff, send_buttons, end).
    ends: Option<Next>,
}

impl Interpreter<'_> {
    /// The step starts: its opening, then the customer's message that started the run (if
    /// this event is one) is its first turn; otherwise it waits for one.
    pub(super) fn agent_step(&mut self, flow: &Arc<Flow>, spec: &AgentSpec, pc: usize) -> Next {
        if let Some(opening) = &spec.opening {
            let body = self.render_in(flow, opening);
            self.agent_say(spec, body);
        }
        if let Some(run) = &mut self.state.run {
            run.wait = Some(Wait::Agent {
                step: pc,
                turns: 0,
                transcript: Vec::new(),
            });
        }
        match self.ctl.turn_text.take() {
            Some(text) => self.agent_turn(flow, spec, pc, text),
            None => {
                self.output
                    .decide(|| "the assistant waits for the customer's message".into());
                Next::Stop
            }
        }
    }

    /// A customer message reached the waiting `agent` step at `pc`.
    pub(super) fn agent_message(&mut self, flow: &Arc<Flow>, pc: usize, text: String) -> Next {
        let Some(Op::Agent(spec)) = flow.steps.get(pc).map(|s| &s.op) else {
            return self.output.fail_step(
                &mut self.state,
                self.ctx.now,
                flow,
                pc,
                "the assistant's step is gone".into(),
            );
        };
        self.agent_turn(flow, spec, pc, text)
    }

    /// The text an `agent` step takes from a customer message: its text, a button's title,
    /// a caption, or what kind of message it was.
    pub(super) fn turn_text_of(content: &InboundContent) -> Option<String> {
        match content.text().map(str::trim) {
            Some(t) if !t.is_empty() => Some(t.to_string()),
            _ => match content {
                InboundContent::Media { .. }
                | InboundContent::Location { .. }
                | InboundContent::Contacts { .. } => {
                    Some(format!("[the customer sent a {}]", content.kind_name()))
                }
                _ => None,
            },
        }
    }

    fn agent_turn(&mut self, flow: &Arc<Flow>, spec: &AgentSpec, pc: usize, text: String) -> Next {
        let Some(Wait::Agent {
            turns, transcript, ..
        }) = self.state.run.as_ref().and_then(|r| r.wait.clone())
        else {
            return Next::Stop;
        };
        if turns >= spec.max_turns {
            let max = spec.max_turns;
            self.output.decide(|| {
                format!("the assistant answered its {max} turns (`max_turns`): the flow goes on")
            });
            return self.agent_done(pc + 1);
        }
        if let Some(Some(Wait::Agent { turns, .. })) = self.state.run.as_mut().map(|r| &mut r.wait)
        {
            *turns += 1;
        }
        let text = guard::defuse_notes(&text).into_owned();
        let mut messages = transcript;
        messages.push(ChatMessage::user(text.clone()));
        self.ctl.round = Some(Round {
            messages,
            user: text,
            calls: 0,
            said: Vec::new(),
            sources: Vec::new(),
            similarity: Default::default(),
        });
        self.agent_call(flow, spec, pc)
    }

    /// The next call of the turn, unless the turn made too many or the budget forbids it.
    fn agent_call(&mut self, flow: &Arc<Flow>, spec: &AgentSpec, pc: usize) -> Next {
        let Some(round) = &self.ctl.round else {
            return Next::Stop;
        };
        if round.calls >= MAX_ROUNDS {
            return self.agent_exit(
                flow,
                spec,
                pc,
                Exit::Error,
                format!("the model made {MAX_ROUNDS} calls for one message without an answer that could be sent"),
            );
        }
        let query = round.user.clone();
        if let Some(wait) = self.embed_question(flow, spec, pc, &query) {
            return wait;
        }
        let retrieved = self.retrieve(flow, spec, pc, &query);
        let passages = retrieved.shown;
        let Some(round) = &mut self.ctl.round else {
            return Next::Stop;
        };
        round.sources = retrieved.sources;
        let messages = round.messages.clone();
        let mut instructions = self.render(&spec.instructions);
        if let Some(line) = self.language_instruction(flow) {
            instructions = format!("{}\n\n{line}", instructions.trim_end());
        }
        let request = ChatRequest {
            system: system_prompt(spec, &instructions, &passages),
            messages,
            tools: tool_specs(spec),
            max_tokens: spec.max_tokens,
        };
        if let Some(why) = self.over_budget(spec, &request) {
            return self.agent_exit(flow, spec, pc, Exit::Budget, why);
        }
        if let Some(round) = &mut self.ctl.round {
            round.calls += 1;
        }
        self.output.mask_trace |= spec.guardrails.mask_personal_data;
        if let Some(trace) = &mut self.output.trace {
            let mask = spec.guardrails.mask_personal_data;
            let shown = |s: &str| {
                let s = if mask {
                    guard::mask_personal_data(s)
                } else {
                    s.to_string()
                };
                shorten(&s, trace::TEXT_MAX)
            };
            trace.exchanges.push(TraceExchange {
                model: spec.model.clone(),
                system: shown(&request.system),
                messages: request
                    .messages
                    .iter()
                    .map(|m| shown(&describe_message(m)))
                    .collect(),
                passages: passages.iter().map(|p| shown(p)).collect(),
                ..Default::default()
            });
        }
        let seq = self.ctl.model_calls;
        self.ctl.model_calls += 1;
        Next::Wait(
            Effect::Model(Box::new(ModelCall {
                model: spec.model.clone(),
                request,
                conversation_id: self.ctx.conversation_id,
                event_id: self.ctx.event_id,
                seq,
                flow: flow.id.clone(),
                step: flow.place(pc),
                timeout: spec.timeout,
                mask: spec.guardrails.mask_personal_data,
                now: self.ctx.now,
            })),
            Await::Agent,
        )
    }

    /// The model answered (or failed): send, act, or ask again.
    pub(super) fn agent_answered(
        &mut self,
        flow: &Arc<Flow>,
        spec: &AgentSpec,
        pc: usize,
        reply: Result<ModelReply, String>,
    ) -> Next {
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                self.trace_outcome(|x| {
                    x.outcome = shorten(&format!("failed: {e}"), trace::TEXT_MAX)
                });
                return self.agent_exit(
                    flow,
                    spec,
                    pc,
                    Exit::Error,
                    format!("the model failed: {e}"),
                );
            }
        };
        let usage = reply.answer.usage;
        // Usage is what the provider says: saturating, so no figure it sends can overflow.
        let spend = &mut self.state.model_spend;
        spend.tokens = spend.tokens.saturating_add(usage.total());
        spend.cost_micros = spend.cost_micros.saturating_add(reply.cost_micros);
        let mask = spec.guardrails.mask_personal_data;
        self.trace_outcome(|x| {
            x.answer = shorten(
                &if mask {
                    guard::mask_personal_data(&reply.answer.text)
                } else {
                    reply.answer.text.clone()
                },
                trace::TEXT_MAX,
            );
            x.input_tokens = usage.input_tokens;
            x.output_tokens = usage.output_tokens;
            x.cost = dollars(reply.cost_micros);
            x.latency_ms = reply.latency_ms;
            x.replayed = reply.replayed;
        });
        let ChatAnswer {
            text, tool_calls, ..
        } = reply.answer;
        let text = text.trim().to_string();
        if tool_calls.is_empty() {
            return self.agent_text(flow, spec, pc, text);
        }
        // Calls past the first few are dropped unread (and unanswered: the request that
        // goes back names only those kept), so an answer of thousands of calls costs nothing.
        let dropped = tool_calls.len().saturating_sub(MAX_TOOL_CALLS);
        if dropped > 0 {
            self.output.decide(|| {
                format!("{dropped} tool calls past the first {MAX_TOOL_CALLS} were dropped")
            });
        }
        let tool_calls: Vec<ToolCall> = tool_calls.into_iter().take(MAX_TOOL_CALLS).collect();
        // What goes back to the model of its own answer is bounded: a megabyte it wrote
        // once must not be sent (and recorded, and paid for) again with every later call.
        let kept_calls: Vec<ToolCall> = tool_calls.iter().map(kept_call).collect();
        if let Some(round) = &mut self.ctl.round {
            round.messages.push(ChatMessage::assistant(
                kept_text(spec, &text),
                kept_calls.clone(),
            ));
        }
        // Whatever the calls send (a handoff's message, buttons) comes after the answer's
        // text, which is only known to be sendable once every call is accepted.
        let text_at = self.reply_mark();
        // A second ending action is ignored without holding back the answer's text: the
        // turn has ended, the model cannot answer again.
        let (ends, refused) = self.carry_out_calls(flow, spec, pc, &tool_calls, &kept_calls);
        if dropped > 0 {
            if let Some(last) = self.ctl.round.as_mut().and_then(|r| r.messages.last_mut()) {
                last.text.push_str(&format!(
                    "\n(Parley: your answer asked for {} actions; only the first {MAX_TOOL_CALLS} were looked at and the other {dropped} were not carried out. Ask for at most {MAX_TOOL_CALLS} in one answer.)",
                    dropped + MAX_TOOL_CALLS
                ));
            }
        }
        if !text.is_empty() {
            self.send_text_with_calls(spec, text, refused, text_at);
        }
        match ends {
            Some(next) => {
                self.trace_outcome(|x| x.outcome = "acted".into());
                self.end_turn();
                next
            }
            None => {
                self.trace_outcome(|x| x.outcome = "tool results go back to the model".into());
                self.agent_call(flow, spec, pc)
            }
        }
    }

    /// A text answer: sent if it passes the guardrails, else back to the model with why.
    fn agent_text(&mut self, flow: &Arc<Flow>, spec: &AgentSpec, pc: usize, text: String) -> Next {
        let refused = if text.is_empty() {
            Err("it was empty".to_string())
        } else {
            guard::check_answer(&spec.guardrails, &text).map_err(|why| shorten(&why, RESULT_MAX))
        };
        if refused.is_ok() && self.said_this_turn(&text) {
            // Sent with an earlier call's actions: the customer has it already.
            self.output
                .decide(|| "the assistant's answer was sent already this turn; not again".into());
            self.trace_outcome(|x| x.outcome = "sent already".into());
            return self.turn_answered(spec, pc);
        }
        match refused {
            Ok(()) => {
                self.trace_outcome(|x| x.outcome = "sent".into());
                let sources = self.ctl.round.as_ref().map(|r| r.sources.as_slice());
                let cited = cite::with_sources(spec, sources.unwrap_or_default(), &text);
                self.agent_say(spec, cited);
                if let Some(round) = &mut self.ctl.round {
                    round.said.push(text);
                }
                self.turn_answered(spec, pc)
            }
            Err(why) => {
                self.output
                    .decide(|| format!("the assistant's answer was not sent: {why}"));
                self.trace_outcome(|x| x.outcome = format!("refused: {why}"));
                if let Some(round) = &mut self.ctl.round {
                    round
                        .messages
                        .push(ChatMessage::assistant(kept_text(spec, &text), Vec::new()));
                    round.messages.push(ChatMessage::user(format!(
                        "(Parley, not the customer: your last answer was not sent because {why}. Answer the customer again within the rules.)"
                    )));
                }
                self.agent_call(flow, spec, pc)
            }
        }
    }

    /// The turn is over: the customer's message and what was said join the transcript,
    /// which keeps the step's last `history` messages.
    fn end_turn(&mut self) {
        let Some(round) = self.ctl.round.take() else {
            return;
        };
        let Some(run) = &mut self.state.run else {
            return;
        };
        let Some(Wait::Agent {
            step, transcript, ..
        }) = &mut run.wait
        else {
            return;
        };
        let history = self
            .ctx
            .library
            .flow_version(&run.flow, run.version)
            .and_then(|f| match f.steps.get(*step).map(|s| &s.op) {
                Some(Op::Agent(spec)) => Some(spec.history),
                _ => None,
            })
            .unwrap_or(10);
        transcript.push(ChatMessage::user(round.user));
        for said in round.said {
            transcript.push(ChatMessage::assistant(said, Vec::new()));
        }
        let excess = transcript.len().saturating_sub(history);
        transcript.drain(..excess);
    }

    /// The step stops early (`on_error`, `on_budget`): the customer reads the author's
    /// words, and the flow goes where the author said.
    fn agent_exit(
        &mut self,
        flow: &Arc<Flow>,
        spec: &AgentSpec,
        pc: usize,
        exit: Exit,
        why: String,
    ) -> Next {
        let (rule, name) = match exit {
            Exit::Error => (&spec.on_error, "on_error"),
            Exit::Budget => (&spec.on_budget, "on_budget"),
        };
        match exit {
            Exit::Error => self
                .output
                .note_error(&mut self.state, self.ctx.now, flow, pc, why),
            Exit::Budget => self.output.decide(|| format!("budget reached: {why}")),
        }
        if let Some(say) = &rule.say {
            let body = self.render_in(flow, say);
            self.agent_say(spec, body);
        }
        self.end_turn();
        match (rule.goto, exit) {
            (Some(t), _) => {
                self.output
                    .decide(|| format!("`{name}`: the flow goes on at {}", flow.place(t)));
                self.agent_done(t)
            }
            (None, Exit::Error) => {
                self.output.decide(|| {
                    "the assistant keeps waiting: the next message is another try".into()
                });
                Next::Stop
            }
            (None, Exit::Budget) => self.agent_done(pc + 1),
        }
    }

    /// The step is over; the flow goes on at `to`.
    /// The turn's answer was sent: the step waits for the next message, or, when that was
    /// its `max_turns`-th answer, ends now and the flow goes on below it (the customer's
    /// next message is not swallowed by a step that can no longer answer it).
    fn turn_answered(&mut self, spec: &AgentSpec, pc: usize) -> Next {
        self.end_turn();
        let turns = match self.state.run.as_ref().and_then(|r| r.wait.as_ref()) {
            Some(Wait::Agent { turns, .. }) => *turns,
            _ => 0,
        };
        if turns < spec.max_turns {
            return Next::Stop;
        }
        let max = spec.max_turns;
        self.output.decide(|| {
            format!("the assistant answered its {max} turns (`max_turns`): the flow goes on")
        });
        self.agent_done(pc + 1)
    }

    fn agent_done(&mut self, to: usize) -> Next {
        self.ctl.round = None;
        if let Some(run) = &mut self.state.run {
            run.wait = None;
        }
        Next::To(to)
    }

    /// Sends a text of the step (never template-rendered: a model's words are data).
    fn agent_say(&mut self, spec: &AgentSpec, body: String) {
        let fallback = self.fallback_here(&spec.if_window_closed);
        let preview_url = body.contains("https://") || body.contains("http://");
        self.output.reply(
            OutboundContent::Text {
                body: clip(body, limits::TEXT_MAX),
                preview_url,
            },
            fallback,
        );
    }

    /// `text` was sent to the customer during this turn already.
    fn said_this_turn(&self, text: &str) -> bool {
        self.ctl
            .round
            .as_ref()
            .is_some_and(|r| r.said.iter().any(|s| s.trim() == text.trim()))
    }

    /// Where the next reply goes, in the replies and in the trace's sends.
    fn reply_mark(&self) -> (usize, usize) {
        (
            self.output.out.replies.len(),
            self.output.trace.as_ref().map_or(0, |t| t.sends.len()),
        )
    }

    /// Moves the latest reply back to `mark` (a `reply_mark`), before what was sent since.
    fn move_last_reply(&mut self, (replies, sends): (usize, usize)) {
        if let Some(reply) = self.output.out.replies.pop() {
            let at = replies.min(self.output.out.replies.len());
            self.output.out.replies.insert(at, reply);
        }
        if let Some(trace) = &mut self.output.trace {
            if let Some(send) = trace.sends.pop() {
                let at = sends.min(trace.sends.len());
                trace.sends.insert(at, send);
            }
        }
    }

    /// Fills in the trace's latest exchange.
    fn trace_outcome(&mut self, f: impl FnOnce(&mut TraceExchange)) {
        if let Some(x) = self
            .output
            .trace
            .as_mut()
            .and_then(|t| t.exchanges.last_mut())
        {
            f(x);
        }
    }
}
