//! The `form` step: sends a WhatsApp Flow with a token made for this step of this run, and
//! waits; a submission carrying that token is its answer. The token, not the flow, is what
//! ties a submission to the step (WhatsApp's reply does not name the flow), and it is kept
//! in the run's wait, in the conversation's row, so it survives a restart.

use super::context::Next;
use super::context::{Contact, Output, StepCtx};
use super::render::send_with_token;
use super::vars::run_id;
use super::{Interpreter, Note, Task};
use crate::domain::form::{self, FormField};
use crate::domain::insight::StepCount;
use crate::domain::{ConversationState, Timer, Wait};
use crate::flows::{Flow, FormSpec, Op};
use serde_json::{Map, Value};

/// Sends the form with a token made for this step of this run, and waits for it.
pub(super) fn form_step(
    ctx: &StepCtx<'_>,
    state: &mut ConversationState,
    contact: &Contact,
    output: &mut Output,
    flow: &Flow,
    spec: &FormSpec,
    pc: usize,
) -> Next {
    let run = run_id(state);
    let token = form::token(ctx.conversation_id, run, pc, ctx.event_id);
    if let Err(why) = send_with_token(
        ctx,
        state,
        contact,
        output,
        &spec.message,
        Some(token.clone()),
    ) {
        output.note_error(state, ctx.now, flow, pc, why);
    }
    if let Some(r) = &mut state.run {
        r.wait = Some(Wait::Form { step: pc, token });
    }
    if let Some(timeout) = spec.timeout {
        output.set_timer_after(ctx.now, Timer::AskTimeout { run, step: pc }, timeout);
    }
    Next::Stop
}

impl Interpreter<'_> {
    /// A submitted form. Returns whether it was handled here: the answer to the waiting
    /// `form` step, or a stale submission (a token Parley made for a form no step waits for
    /// any more: submitted twice, after its timeout, or after the customer moved on), which
    /// is ignored. A token Parley did not make is not handled here: the message goes
    /// through the triggers like any other (`type: form_reply`).
    pub(super) fn form_reply(
        &mut self,
        token: Option<&str>,
        response: &Map<String, Value>,
    ) -> bool {
        let waiting = match self.state.run.as_ref().and_then(|r| r.wait.as_ref()) {
            Some(Wait::Form { step, token }) => Some((*step, token.clone())),
            _ => None,
        };
        let flow = self.state.run.as_ref().map(|r| r.flow.clone());
        let Some(token) = token.filter(|t| t.starts_with(form::TOKEN_PREFIX)) else {
            self.output.decide(|| {
                "a form submitted with a token Parley did not make: handled like any message".into()
            });
            self.output.notes.push(Note::FormReply {
                outcome: "foreign",
                flow,
                token: token.map(str::to_string),
            });
            return false;
        };
        let Some((step, _)) = waiting.filter(|(_, expected)| expected == token) else {
            let t = token.to_string();
            self.output.decide(|| format!("the form with token `{t}` was submitted, but no step waits for it any more: ignored"));
            self.output.notes.push(Note::FormReply {
                outcome: "stale",
                flow,
                token: Some(token.to_string()),
            });
            return true;
        };
        let Some(flow) = self.flow_of_run() else {
            self.drop_run();
            return true;
        };
        let Some(Op::Form(spec)) = flow.steps.get(step).map(|s| &s.op) else {
            self.drop_run();
            return true;
        };
        self.output.cancel_waits();
        if let Some(run) = &mut self.state.run {
            run.wait = None;
        }
        let outcome = match FormField::map(&spec.fields, response) {
            Ok(Value::Object(values)) => {
                self.output.decide(|| match &spec.save_as {
                    Some(name) => format!("the form is submitted and saved as `{name}`"),
                    None => "the form is submitted and its fields saved".to_string(),
                });
                if let Some(run) = &mut self.state.run {
                    match &spec.save_as {
                        Some(name) => {
                            run.vars.insert(name.clone(), Value::Object(values));
                        }
                        None => run.vars.extend(values),
                    }
                }
                self.output.count_step(&flow, step, StepCount::Answered);
                self.then([Task::Execute {
                    flow: flow.clone(),
                    pc: step + 1,
                }]);
                "completed"
            }
            Ok(_) => unreachable!("FormField::map returns an object"),
            Err(why) => {
                let message = format!("the submitted form does not fit: {why}");
                match spec.on_invalid {
                    Some(t) => {
                        self.output
                            .note_error(&mut self.state, self.ctx.now, &flow, step, message);
                        self.leave_wait(&flow, step, StepCount::Invalid, false);
                        self.then([Task::Execute {
                            flow: flow.clone(),
                            pc: t,
                        }]);
                    }
                    None => {
                        self.output
                            .note_error(&mut self.state, self.ctx.now, &flow, step, message);
                        self.leave_wait(&flow, step, StepCount::Invalid, true);
                    }
                }
                "invalid"
            }
        };
        self.output.notes.push(Note::FormReply {
            outcome,
            flow: Some(flow.id.clone()),
            token: Some(token.to_string()),
        });
        true
    }
}
