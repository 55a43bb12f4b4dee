//! A customer's message (opt-out, debounce, handoff, triggers, answers to an `ask`, turns
//! of an `agent` step), and how runs start and end when their flow is gone. Timers and
//! schedules are `timers`'.

use super::{Interpreter, Note, Task};
use crate::config::EchoPause;
use crate::domain::clock::later;
use crate::domain::insight::{Outcome, StepCount};
use crate::domain::{
    CallDirection, Handoff, InboundContent, InboundMessage, Run, Timer, Wait, WindowFallback,
};
use crate::engine::answer;
use crate::engine::scope;
use crate::flows::schedule::OPTED_OUT;
use crate::flows::{Flow, MatchInput, Op, TriggerKind};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The `flow` a pause started by an echo from the WhatsApp Business app is recorded under.
pub const ECHO_HANDOFF: &str = "(WhatsApp Business app)";

impl Interpreter<'_> {
    pub(super) fn on_message(&mut self, msg: InboundMessage) {
        // Not the customer talking: nothing a customer message does (opt-out, debounce,
        // counting toward `new_contact`, reminders) applies.
        match &msg.content {
            InboundContent::History { .. } => {
                return self
                    .output
                    .decide(|| "a message of the shared chat history: stored, nothing runs".into())
            }
            InboundContent::Echo { .. } => return self.echo(),
            InboundContent::Standby { .. } => {
                return self.output.decide(|| {
                    "a copy of a thread another app owns (standby): stored as context, never answered".into()
                })
            }
            InboundContent::Handover(h) => return self.on_handover(h),
            InboundContent::Call(call) if call.direction == CallDirection::BusinessInitiated => {
                return self
                    .output
                    .decide(|| "a call the business made: stored, nothing runs".into())
            }
            _ => {}
        }
        self.routed_here();
        if msg.referral.is_some() {
            // A click-to-WhatsApp ad's message: the answer to it may open a free window
            // (pricing; the worker marks when it opens).
            let at = msg.timestamp.map_or(self.ctx.now, |t| t.min(self.ctx.now));
            self.state.entry_point = Some(crate::domain::pricing::EntryPoint::referral(
                self.state.entry_point,
                at,
            ));
        }
        let new_contact = self.state.messages_seen == 0;
        self.state.messages_seen += 1;
        self.schedule_window_reminders();
        let folded = msg
            .content
            .text()
            .map(crate::flows::normalize)
            .unwrap_or_default();
        if !folded.is_empty() && self.ctx.library.options.opt_out_keywords.contains(&folded) {
            return self.opt_out();
        }
        if self.contact.view.get(OPTED_OUT).and_then(Value::as_bool) == Some(true) {
            // Writing again is opting back in.
            self.contact.view[OPTED_OUT] = Value::Null;
            self.contact
                .patch
                .set_attributes
                .insert(OPTED_OUT.into(), Value::Null);
        }
        if let (Some(quiet), InboundContent::Text { body }) = (self.debounce(), &msg.content) {
            self.state.pending_texts.push(body.clone());
            self.output
                .set_timer(Timer::Debounce, later(self.ctx.now, quiet));
            return;
        }
        let handle = Task::Handle {
            message: msg.clone(),
            new_contact,
        };
        if !self.state.pending_texts.is_empty() {
            // A non-text message ends the quiet period: the held texts go first.
            self.then([Task::Flush(msg), handle]);
        } else {
            self.then([handle]);
        }
    }

    /// A person wrote to this customer from the WhatsApp Business app: the bot steps back
    /// as for a `handoff` (the sender's `echo_pause`), ending any run in progress.
    fn echo(&mut self) {
        let until = match self
            .ctx
            .library
            .options
            .echo_pause
            .get(&self.ctx.sender_id)
            .copied()
            .unwrap_or_default()
        {
            EchoPause::Off => {
                return self.output.decide(|| {
                    "a person wrote from the WhatsApp Business app; `echo_pause: off`, the bot carries on".into()
                })
            }
            EchoPause::UntilRelease => None,
            EchoPause::For(d) => Some(d),
        };
        self.output.decide(|| {
            "a person wrote from the WhatsApp Business app: the bot pauses for this customer".into()
        });
        self.state.pending_texts.clear();
        self.drop_run();
        self.output.cancel_waits();
        let until_at = until.map(|d| later(self.ctx.now, d));
        let since = self
            .state
            .handoff
            .as_ref()
            .map_or(self.ctx.now, |h| h.since);
        self.state.handoff = Some(Handoff {
            since,
            until: until_at,
            flow: ECHO_HANDOFF.into(),
        });
        match until {
            Some(d) => self.output.set_timer_after(
                self.ctx.now,
                Timer::HandoffTimeout { run: 0, step: 0 },
                d,
            ),
            // Until released: an earlier handoff's timeout must not end this pause.
            None => self
                .output
                .cancel_timer(&crate::domain::TimerKind::HandoffTimeout),
        }
        self.output.notes.push(super::Note::HandedOff {
            flow: ECHO_HANDOFF.into(),
            until: until_at,
        });
    }

    /// The quiet period that applies now: the current flow's, else the global one.
    fn debounce(&self) -> Option<std::time::Duration> {
        let flow = self.flow_of_run().and_then(|f| f.debounce);
        flow.or(self.ctx.library.options.debounce)
            .filter(|d| !d.is_zero())
    }

    pub(super) fn flush_pending(&mut self, like: &InboundMessage) {
        let texts = std::mem::take(&mut self.state.pending_texts);
        if texts.is_empty() {
            return;
        }
        let mut joined = like.clone();
        joined.content = InboundContent::Text {
            body: texts.join("\n"),
        };
        self.ctx.message = scope::message_view(Some(&joined.content));
        self.handle_message(&joined, false);
    }

    fn opt_out(&mut self) {
        self.output
            .decide(|| "the message is an opt-out keyword: scheduled messages stop".into());
        self.contact.view[OPTED_OUT] = json!(true);
        self.contact
            .patch
            .set_attributes
            .insert(OPTED_OUT.into(), json!(true));
        self.state.pending_texts.clear();
        self.drop_run();
        self.output.cancel_waits();
        if let Some(reply) = &self.ctx.library.options.opt_out_reply {
            let body = self.render(reply);
            self.output.reply(
                crate::domain::OutboundContent::Text {
                    body,
                    preview_url: false,
                },
                WindowFallback::Skip,
            );
        }
    }

    /// (Re)sets the timers of `window_closing` triggers for the window this message opened.
    fn schedule_window_reminders(&mut self) {
        let Some(expires_at) = self.ctx.window.expires_at else {
            return;
        };
        let flows = self.ctx.library.flows();
        for flow in flows.flows() {
            for t in &flow.triggers {
                if let TriggerKind::WindowClosing { before } = t.kind {
                    // A `before` reaching past the first date there is: long gone.
                    let due = expires_at.checked_sub_signed(super::vars::to_chrono(before));
                    if let Some(due) = due.filter(|due| *due > self.ctx.now) {
                        let timer = Timer::WindowClosing {
                            flow: flow.id.clone(),
                            expires_at,
                        };
                        self.output.set_timer(timer, due);
                    }
                }
            }
        }
    }

    pub(super) fn handle_message(&mut self, msg: &InboundMessage, new_contact: bool) {
        if let Some(h) = &self.state.handoff {
            if h.until.is_none_or(|u| self.ctx.now < u) {
                // A person is handling this conversation: the bot stays silent.
                self.output.decide(|| {
                    "a person is handling this conversation: the bot stays silent".into()
                });
                return;
            }
            self.state.handoff = None;
        }
        if let InboundContent::FormReply { token, response } = &msg.content {
            if self.form_reply(token.as_deref(), response) {
                return;
            }
        }
        self.end_lost_run();
        let waiting = matches!(
            self.state.run.as_ref().and_then(|r| r.wait.as_ref()),
            Some(Wait::Answer { .. } | Wait::Form { .. } | Wait::Agent { .. })
        );
        if !waiting && self.reply_to_broadcast(msg) {
            return;
        }
        let flows = self.ctx.library.flows();
        let input = MatchInput {
            content: &msg.content,
            referral: msg.referral.as_ref(),
            new_contact,
            waiting,
        };
        let matched = flows.best_match(&input);
        if let Some(trace) = &mut self.output.trace {
            trace.triggers = Some(flows.explain(&input));
        }
        if let Some(m) = matched {
            let mut vars = Map::new();
            for (k, v) in m.captures {
                vars.insert(k, json!(v));
            }
            if let InboundContent::Call(call) = &msg.content {
                vars.insert("call".into(), scope::call_view(call));
            }
            self.output.decide(|| format!("start flow `{}`", m.flow.id));
            self.ctl.turn_text = Self::turn_text_of(&msg.content);
            self.start(m.flow, vars);
            return;
        }
        if let Some(Wait::Form { .. }) = self.state.run.as_ref().and_then(|r| r.wait.as_ref()) {
            self.output.decide(|| {
                "the run waits for its form to be submitted: this message is not the form".into()
            });
        } else if waiting && !msg.content.is_conversational() {
            let kind = msg.content.kind_name();
            self.output.decide(|| {
                format!("a {kind} does not answer the question; the flow keeps waiting")
            });
        } else if let Some(Wait::Agent { step, .. }) =
            self.state.run.as_ref().and_then(|r| r.wait.clone())
        {
            self.agent_turn_for(step, &msg.content);
        } else if waiting {
            self.output
                .decide(|| "no trigger counts: the message answers the question".into());
            self.answer(&msg.content);
        } else {
            self.output.decide(|| "no flow starts".into());
        }
    }

    /// A customer's first message after a broadcast that names a `reply_flow` (within the
    /// broadcast's reply window) starts that flow, before any trigger is considered; each
    /// broadcast routes one reply. A run waiting for an answer keeps it.
    fn reply_to_broadcast(&mut self, msg: &InboundMessage) -> bool {
        let Some(reply) = self.ctx.broadcast_reply.clone() else {
            return false;
        };
        if self.state.broadcast_replied == Some(reply.recipient_id)
            || self.ctx.now >= reply.until
            || !msg.content.is_conversational()
        {
            return false;
        }
        let Some(flow) = self.ctx.library.flows().get(&reply.flow).cloned() else {
            let name = reply.flow.clone();
            self.output.decide(|| {
                format!("the reply flow `{name}` of the broadcast is not loaded: triggers decide")
            });
            return false;
        };
        self.state.broadcast_replied = Some(reply.recipient_id);
        let id = flow.id.clone();
        self.output
            .decide(|| format!("a reply to a broadcast: start its reply flow `{id}`"));
        self.ctl.turn_text = Self::turn_text_of(&msg.content);
        self.start(flow, Map::new());
        true
    }

    /// Starts `flow` from its first step, replacing any run in progress.
    /// A flow with a candidate version serves the one its rollout picks for this contact
    /// (`experiments::serve_version`).
    pub(super) fn start(&mut self, flow: Arc<Flow>, vars: Map<String, Value>) {
        self.drop_run();
        let (flow, arm) = super::experiments::serve_version(
            &self.ctx,
            &mut self.state,
            &self.contact,
            &mut self.output,
            flow,
        );
        self.output.count_run(&flow.id, Outcome::Started);
        self.output.cancel_waits();
        self.state.runs_started += 1;
        self.state.run = Some(Run {
            id: self.state.runs_started,
            flow: flow.id.clone(),
            version: flow.version,
            step: 0,
            vars,
            wait: None,
            offered: Vec::new(),
            started_at: self.ctx.now,
            arm,
        });
        self.then([Task::Execute { flow, pc: 0 }]);
    }

    /// Ends a run that waits where its flow no longer waits: the flow is gone, or its
    /// step there is no longer a question (the file changed while Parley was stopped, so
    /// the version the run started on was not kept). The message is then taken as a new
    /// one rather than lost: an answer to a question that no longer exists would otherwise
    /// end the run without a word.
    fn end_lost_run(&mut self) {
        let Some(run) = &self.state.run else { return };
        let Some(Wait::Answer { step, .. }) = run.wait else {
            return;
        };
        let flow_id = run.flow.clone();
        let why = match self.flow_of_run() {
            None => format!("flow `{flow_id}` is no longer loaded"),
            Some(flow) => match flow.steps.get(step).map(|s| &s.op) {
                Some(Op::Ask(_)) => return,
                _ => format!(
                    "step {} of flow `{flow_id}` is no longer the question it waited at (the flow changed)",
                    step + 1
                ),
            },
        };
        self.output.decide(|| {
            format!("the run cannot go on: {why}; it ends, and the message is taken as a new one")
        });
        self.output.notes.push(Note::RunLost { flow: flow_id, why });
        self.output.cancel_waits();
        self.drop_run();
    }

    pub(super) fn flow_of_run(&self) -> Option<Arc<Flow>> {
        let run = self.state.run.as_ref()?;
        self.ctx.library.flow_version(&run.flow, run.version)
    }

    /// A customer message while an `agent` step holds the conversation: its next turn.
    fn agent_turn_for(&mut self, step: usize, content: &InboundContent) {
        let Some(flow) = self.flow_of_run() else {
            self.drop_run();
            return;
        };
        match Self::turn_text_of(content) {
            Some(text) => {
                self.output
                    .decide(|| "no trigger counts: the assistant answers the message".into());
                self.then([Task::AgentTurn {
                    flow,
                    pc: step,
                    text,
                }]);
            }
            None => {
                let kind = content.kind_name();
                self.output.decide(|| {
                    format!("a {kind} has nothing for the assistant to answer; it keeps waiting")
                });
            }
        }
    }

    fn answer(&mut self, content: &InboundContent) {
        let Some(flow) = self.flow_of_run() else {
            self.drop_run();
            return;
        };
        let Some(run) = &self.state.run else { return };
        let Some(Wait::Answer { step, attempts }) = run.wait.clone() else {
            return;
        };
        let Some(Op::Ask(ask)) = flow.steps.get(step).map(|s| &s.op) else {
            self.drop_run();
            return;
        };
        match answer::check(&ask.expect, content, &run.offered) {
            Ok(value) => {
                self.output
                    .decide(|| format!("the answer is saved as `{}`: {value}", ask.save_as));
                self.output.count_step(&flow, step, StepCount::Answered);
                if ask.sets_language {
                    self.keep_language(&value);
                }
                if let Some(run) = &mut self.state.run {
                    run.vars.insert(ask.save_as.clone(), value);
                    run.wait = None;
                }
                self.output.cancel_waits();
                self.then([Task::Execute {
                    flow: flow.clone(),
                    pc: step + 1,
                }]);
            }
            Err(default_text) => {
                self.output.decide(|| {
                    format!(
                        "the answer is not a valid {} (try {} of {})",
                        ask.expect.name(),
                        attempts + 1,
                        ask.retries + 1
                    )
                });
                if attempts < ask.retries {
                    if let Some(run) = &mut self.state.run {
                        run.wait = Some(Wait::Answer {
                            step,
                            attempts: attempts + 1,
                        });
                    }
                    let text = ask
                        .retry_text
                        .clone()
                        .unwrap_or_else(|| default_text.to_string());
                    let body = self.render_in(&flow, &text);
                    self.output.at = Some((flow.clone(), step));
                    self.output.reply(
                        crate::domain::OutboundContent::Text {
                            body,
                            preview_url: false,
                        },
                        WindowFallback::Fail,
                    );
                } else {
                    self.output.cancel_waits();
                    self.leave_wait(&flow, step, StepCount::Invalid, ask.on_invalid.is_none());
                    // Without `on_invalid` the run ended there (`leave_wait`).
                    if let Some(t) = ask.on_invalid {
                        if let Some(run) = &mut self.state.run {
                            run.wait = None;
                        }
                        self.then([Task::Execute {
                            flow: flow.clone(),
                            pc: t,
                        }]);
                    }
                }
            }
        }
    }
}
