//! The step loop and one function per kind of step. A step that needs I/O returns
//! `Next::Wait` with its effect; `resume_step` gives it the answer. Each step is given the
//! parts of the interpreter it uses (`context`); only the `agent` step, which holds a turn
//! across effects, takes the interpreter.

use super::context::Next;
use super::context::{Contact, Output, StepCtx};
use super::form::form_step;
use super::render::send;
use super::vars::{assign, run_id, scope, script_job, set_var, vars_over_budget};
use super::{Answer, Await, Effect, Entry, Interpreter, Note, Pending};
use crate::domain::clock::later;
use crate::domain::insight::{Outcome, StepCount};
use crate::domain::{ConversationState, Handoff, Timer, Wait};
use crate::engine::http_step::HttpRequest;
use crate::engine::template::{render, render_json, render_url, Roots};
use crate::flows::{AskSpec, Expr, Flow, HttpSpec, Op, SendSpec, Target, ValueSpec};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Steps one event may run before the run is stopped as a runaway (`goto` loops).
pub(super) const MAX_STEPS: usize = crate::flows::MAX_STEPS_PER_EVENT;

impl Interpreter<'_> {
    /// Runs steps from `pc` until the run waits or ends, or a step needs an effect;
    /// `resumed` is the answer of the effect the step at `pc` waited for.
    pub(super) fn execute(
        &mut self,
        mut flow: Arc<Flow>,
        mut pc: usize,
        mut budget: usize,
        entry: Entry,
    ) -> Option<Effect> {
        let mut entry = Some(entry);
        loop {
            self.output.at = Some((flow.clone(), pc));
            self.output.track_arm(&self.state, self.ctx.now);
            let next = match entry.take() {
                Some(Entry::Resume(at, answer)) => self.resume_step(&flow, pc, at, answer),
                Some(Entry::AgentTurn(text)) => {
                    self.output.begin_visit();
                    self.agent_message(&flow.clone(), pc, text)
                }
                Some(Entry::Step) | None => {
                    if budget == 0 {
                        self.output.fail(&mut self.state, self.ctx.now, &flow, pc, format!("the flow ran more than {MAX_STEPS} steps for one message: a `goto` loop, or more than {MAX_STEPS} steps in a row with no `ask`, `delay` or `handoff` between them (split them with one)"));
                        self.output.count_run(&flow.id, Outcome::Errored);
                        return None;
                    }
                    budget -= 1;
                    if self.output.trace.is_some() {
                        self.trace_step(&flow, pc);
                    }
                    if pc >= flow.steps.len() {
                        self.state.run = None;
                        self.output.count_run(&flow.id, Outcome::Finished);
                        return None;
                    }
                    if let Some(run) = self.state.run.as_mut().filter(|r| r.step != pc) {
                        run.step = pc;
                    } else if pc == 0 && !flow.languages.is_empty() {
                        self.choose_language(&flow); // a run starts (or enters this flow)
                    }
                    self.output.begin_visit();
                    self.output.count_step(&flow, pc, StepCount::Entered);
                    self.step(&flow.clone(), pc)
                }
            };
            self.output.after_step(&self.state, &flow, pc, &next);
            match next {
                Next::To(p) => pc = p,
                Next::Flow(f) => {
                    flow = f;
                    pc = 0;
                }
                Next::Stop => return None,
                Next::Wait(effect, at) => {
                    self.ctl.pending = Some(Pending {
                        flow,
                        pc,
                        budget,
                        at,
                    });
                    return Some(effect);
                }
            }
        }
    }

    fn step(&mut self, flow: &Arc<Flow>, pc: usize) -> Next {
        let op = &flow.steps[pc].op;
        if let Op::Agent(spec) = op {
            return self.agent_step(flow, spec, pc);
        }
        let Interpreter {
            ctx,
            state,
            contact,
            output,
            ..
        } = self;
        match op {
            Op::Send(spec) => send_step(ctx, state, contact, output, flow, spec, pc),
            Op::Ask(ask) => ask_step(ctx, state, contact, output, flow, ask, pc),
            Op::Form(form) => form_step(ctx, state, contact, output, flow, form, pc),
            Op::If { condition, .. } => eval(&scope(ctx, state, contact), condition, Await::If),
            Op::Switch { on, .. } => eval(&scope(ctx, state, contact), on, Await::Switch),
            Op::Set { .. } => set_step(ctx, state, contact, flow, pc, 0),
            Op::Script { code, .. } => eval(&scope(ctx, state, contact), code, Await::Script),
            Op::Http(spec) => http_step(&scope(ctx, state, contact), spec),
            Op::Agent(_) => unreachable!("the agent step is run above"),
            Op::Handoff { .. } => handoff_step(ctx, state, contact, output, flow, pc),
            Op::Goto(t) => Next::To(*t),
            Op::GotoFlow(id) => goto_flow_step(ctx, state, contact, output, flow, pc, id),
            Op::Delay(d) => delay_step(ctx.now, state, output, *d, pc),
            Op::Split(spec) => super::experiments::split_step(ctx, state, contact, output, spec),
            Op::Tag(tags) => {
                for t in tags {
                    contact.patch.tag(t);
                }
                contact.refresh_tags();
                Next::To(pc + 1)
            }
            Op::Untag(tags) => {
                for t in tags {
                    contact.patch.untag(t);
                }
                contact.refresh_tags();
                Next::To(pc + 1)
            }
            Op::End => {
                state.run = None;
                Next::Stop
            }
        }
    }

    fn resume_step(&mut self, flow: &Arc<Flow>, pc: usize, at: Await, answer: Answer) -> Next {
        let op = &flow.steps[pc].op;
        match (at, op, answer) {
            (
                Await::If,
                Op::If {
                    condition,
                    then,
                    otherwise,
                },
                Answer::Script(r),
            ) => match r.map(|o| truthy(&o.value)) {
                Ok(true) => Next::To(*then),
                Ok(false) => Next::To(*otherwise),
                Err(e) => self.output.fail_step(
                    &mut self.state,
                    self.ctx.now,
                    flow,
                    pc,
                    format!("the condition `{}` failed: {e}", condition.source),
                ),
            },
            (Await::Switch, Op::Switch { on, cases, default }, Answer::Script(r)) => match r {
                Ok(o) => {
                    let key = match &o.value {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    Next::To(
                        cases
                            .iter()
                            .find(|(c, _)| *c == key)
                            .map(|(_, t)| *t)
                            .unwrap_or(*default),
                    )
                }
                Err(e) => self.output.fail_step(
                    &mut self.state,
                    self.ctx.now,
                    flow,
                    pc,
                    format!("the switch value `{}` failed: {e}", on.source),
                ),
            },
            (Await::Set { index }, Op::Set { assignments }, Answer::Script(r)) => {
                let (target, value) = &assignments[index];
                match r {
                    Ok(o) => {
                        assign(&mut self.state, &mut self.contact, target, o.value);
                        set_step(
                            &self.ctx,
                            &mut self.state,
                            &mut self.contact,
                            flow,
                            pc,
                            index + 1,
                        )
                    }
                    Err(err) => {
                        let source = match value {
                            ValueSpec::Expr(e) => e.source.as_str(),
                            ValueSpec::Text(t) => t.as_str(),
                            ValueSpec::Value(_) => "",
                        };
                        self.output.fail_step(
                            &mut self.state,
                            self.ctx.now,
                            flow,
                            pc,
                            format!("`= {source}` failed: {err}"),
                        )
                    }
                }
            }
            (Await::Script, Op::Script { on_error, .. }, Answer::Script(r)) => {
                self.script_answered(flow, pc, *on_error, r)
            }
            (Await::Http, Op::Http(spec), Answer::Http(r)) => self.http_answered(flow, pc, spec, r),
            (Await::Agent | Await::Embed, Op::Agent(spec), answer) => {
                self.agent_resumed(flow, spec, pc, at, answer)
            }
            _ => self.output.fail_step(
                &mut self.state,
                self.ctx.now,
                flow,
                pc,
                "the step was resumed with the answer of another step".into(),
            ),
        }
    }

    /// A `script` step's answer: its variables kept (within the budget) or its error.
    fn script_answered(
        &mut self,
        flow: &Arc<Flow>,
        pc: usize,
        on_error: Option<Target>,
        r: Result<crate::flows::script::Outcome, String>,
    ) -> Next {
        match r {
            Ok(outcome) => {
                if let (Some(vars), Some(run)) = (outcome.vars, &mut self.state.run) {
                    let before = std::mem::replace(&mut run.vars, vars);
                    if let Some(why) = vars_over_budget(&self.state, None, None) {
                        if let Some(run) = &mut self.state.run {
                            run.vars = before;
                        }
                        let why = format!("script failed: {why}");
                        return self.output.on_error(
                            &mut self.state,
                            self.ctx.now,
                            flow,
                            pc,
                            on_error,
                            why,
                        );
                    }
                }
                Next::To(pc + 1)
            }
            Err(e) => self.output.on_error(
                &mut self.state,
                self.ctx.now,
                flow,
                pc,
                on_error,
                format!("script failed: {e}"),
            ),
        }
    }

    /// An `http` step's answer: saved (a failed status too, for `on_error`) or its error.
    fn http_answered(
        &mut self,
        flow: &Arc<Flow>,
        pc: usize,
        spec: &HttpSpec,
        r: Result<Value, String>,
    ) -> Next {
        let over = match (&r, &spec.save_as) {
            (Ok(v), Some(name)) => vars_over_budget(&self.state, Some(name), Some(v)),
            _ => None,
        };
        if let Some(why) = over {
            return self.output.on_error(
                &mut self.state,
                self.ctx.now,
                flow,
                pc,
                spec.on_error,
                format!("http step failed: {why}"),
            );
        }
        let result = r.and_then(|v| {
            if v["ok"] == json!(true) {
                Ok(v)
            } else {
                let why = format!("the server answered with status {}", v["status"]);
                // Saved all the same, so the `on_error` path can tell a 404 (not
                // found) from a 503, or read where a redirect pointed.
                if let Some(name) = &spec.save_as {
                    set_var(&mut self.state, name, v);
                }
                Err(why)
            }
        });
        match (result, &spec.save_as) {
            (Ok(v), Some(name)) => {
                set_var(&mut self.state, name, v);
                Next::To(pc + 1)
            }
            (Ok(_), None) => Next::To(pc + 1),
            (Err(e), _) => self.output.on_error(
                &mut self.state,
                self.ctx.now,
                flow,
                pc,
                spec.on_error,
                format!("http step failed: {e}"),
            ),
        }
    }

    fn trace_step(&mut self, flow: &Flow, pc: usize) {
        let vars = self.state.run.as_ref().map(|r| r.vars.clone());
        if let Some(trace) = &mut self.output.trace {
            trace.step(flow, pc);
            if let Some(vars) = vars {
                trace.last_vars = Some(vars);
            }
        }
    }
}

fn send_step(
    ctx: &StepCtx<'_>,
    state: &mut ConversationState,
    contact: &Contact,
    output: &mut Output,
    flow: &Flow,
    spec: &SendSpec,
    pc: usize,
) -> Next {
    if let Err(why) = send(ctx, state, contact, output, spec) {
        output.note_error(state, ctx.now, flow, pc, why);
    }
    Next::To(pc + 1)
}

fn ask_step(
    ctx: &StepCtx<'_>,
    state: &mut ConversationState,
    contact: &Contact,
    output: &mut Output,
    flow: &Flow,
    ask: &AskSpec,
    pc: usize,
) -> Next {
    if let Some(prompt) = &ask.prompt {
        if let Err(why) = send(ctx, state, contact, output, prompt) {
            output.note_error(state, ctx.now, flow, pc, why);
        }
    }
    let run = run_id(state);
    if let Some(r) = &mut state.run {
        r.wait = Some(Wait::Answer {
            step: pc,
            attempts: 0,
        });
    }
    if let Some(timeout) = ask.timeout {
        output.set_timer_after(ctx.now, Timer::AskTimeout { run, step: pc }, timeout);
    }
    Next::Stop
}

/// Rhai code to run for the step (a condition, a value, a `script` step).
fn eval(scope: &Roots<'_>, expr: &Expr, at: Await) -> Next {
    Next::Wait(Effect::Script(script_job(scope, expr)), at)
}

/// Assigns the `set` step's values from the `from`-th on; an expression waits for its
/// script.
fn set_step(
    ctx: &StepCtx<'_>,
    state: &mut ConversationState,
    contact: &mut Contact,
    flow: &Flow,
    pc: usize,
    from: usize,
) -> Next {
    let Op::Set { assignments } = &flow.steps[pc].op else {
        return Next::To(pc + 1);
    };
    for (index, (target, value)) in assignments.iter().enumerate().skip(from) {
        match value {
            ValueSpec::Text(t) => {
                let v = json!(render(t, &scope(ctx, state, contact)));
                assign(state, contact, target, v);
            }
            ValueSpec::Value(v) => assign(state, contact, target, v.clone()),
            ValueSpec::Expr(e) => {
                return eval(&scope(ctx, state, contact), e, Await::Set { index })
            }
        }
    }
    Next::To(pc + 1)
}

fn http_step(scope: &Roots<'_>, spec: &HttpSpec) -> Next {
    let req = HttpRequest {
        method: spec.method.clone(),
        url: render_url(&spec.url, scope),
        headers: spec
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), render(v, scope)))
            .collect(),
        body: spec.body.as_ref().map(|b| render_json(b, scope)),
        timeout: spec.timeout,
    };
    Next::Wait(Effect::Http(req), Await::Http)
}

fn handoff_step(
    ctx: &StepCtx<'_>,
    state: &mut ConversationState,
    contact: &Contact,
    output: &mut Output,
    flow: &Flow,
    pc: usize,
) -> Next {
    let Op::Handoff { timeout, message } = &flow.steps[pc].op else {
        return Next::To(pc + 1);
    };
    if let Some(m) = message {
        if let Err(why) = send(ctx, state, contact, output, m) {
            output.note_error(state, ctx.now, flow, pc, why);
        }
    }
    hand_off(ctx.now, state, output, flow, pc, *timeout);
    super::routing::pass_on_handoff(ctx, state, output);
    Next::Stop
}

/// A person takes the conversation (until `timeout`, if any); the run ends.
pub(super) fn hand_off(
    now: DateTime<Utc>,
    state: &mut ConversationState,
    output: &mut Output,
    flow: &Flow,
    pc: usize,
    timeout: Option<Duration>,
) {
    // `later` saturates a timeout the loader should have refused (past ten years)
    // instead of panicking on the overflow.
    let until = timeout.map(|t| later(now, t));
    output.visit_handed_off = true;
    output.notes.push(Note::HandedOff {
        flow: flow.id.clone(),
        until,
    });
    state.handoff = Some(Handoff {
        since: now,
        until,
        flow: flow.id.clone(),
    });
    match timeout {
        Some(t) => {
            let run = run_id(state);
            output.set_timer_after(now, Timer::HandoffTimeout { run, step: pc }, t);
        }
        // Until released: an earlier handoff's timeout (one released before this
        // handoff began) must not end this one.
        None => output.cancel_timer(&crate::domain::TimerKind::HandoffTimeout),
    }
    state.run = None;
}

fn goto_flow_step(
    ctx: &StepCtx<'_>,
    state: &mut ConversationState,
    contact: &Contact,
    output: &mut Output,
    flow: &Flow,
    pc: usize,
    id: &str,
) -> Next {
    let Some(next) = ctx.library.flows().get(id).cloned() else {
        let why = format!("there is no flow `{id}` any more");
        return output.fail_step(state, ctx.now, flow, pc, why);
    };
    if let Some(run) = &mut state.run {
        run.flow = next.id.clone();
        (run.step, run.offered) = (0, Vec::new()); // at step 0 its language is chosen
    }
    super::experiments::on_goto_flow(ctx, state, contact, output, next)
}

fn delay_step(
    now: DateTime<Utc>,
    state: &mut ConversationState,
    output: &mut Output,
    d: Duration,
    pc: usize,
) -> Next {
    let run = run_id(state);
    if let Some(r) = &mut state.run {
        r.wait = Some(Wait::Delay { step: pc });
    }
    output.set_timer_after(now, Timer::Delay { run, step: pc }, d);
    Next::Stop
}

impl Output {
    /// A step failed: its `on_error` path if it has one, else the run ends.
    pub(super) fn on_error(
        &mut self,
        state: &mut ConversationState,
        now: DateTime<Utc>,
        flow: &Flow,
        pc: usize,
        on_error: Option<Target>,
        message: String,
    ) -> Next {
        match on_error {
            Some(t) => {
                self.note_error(state, now, flow, pc, message);
                Next::To(t)
            }
            None => self.fail_step(state, now, flow, pc, message),
        }
    }

    pub(super) fn fail_step(
        &mut self,
        state: &mut ConversationState,
        now: DateTime<Utc>,
        flow: &Flow,
        pc: usize,
        message: String,
    ) -> Next {
        self.fail(state, now, flow, pc, message);
        Next::Stop
    }

    pub(super) fn note_error(
        &mut self,
        state: &mut ConversationState,
        now: DateTime<Utc>,
        flow: &Flow,
        step: usize,
        message: String,
    ) {
        self.visit_failed = true;
        self.notes.push(Note::StepFailed {
            flow: flow.id.clone(),
            step: flow.place(step),
            message: message.clone(),
        });
        if let Some(trace) = &mut self.trace {
            let line = flow.steps.get(step).map(|s| s.at.line).unwrap_or(0);
            trace
                .errors
                .push(format!("{}:{line}: {message}", flow.file));
        }
        state.last_error = Some(crate::domain::StepError {
            flow: flow.id.clone(),
            step,
            message,
            at: now,
        });
    }

    /// Ends the run after an error; the next message starts afresh.
    pub(super) fn fail(
        &mut self,
        state: &mut ConversationState,
        now: DateTime<Utc>,
        flow: &Flow,
        step: usize,
        message: String,
    ) {
        self.note_error(state, now, flow, step, message);
        state.run = None;
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Null => false,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}
