//! The step loop and one function per kind of step. A step that needs I/O returns
//! `Next::Wait` with its effect; its `resume_*` function takes the answer.

use super::{Answer, Await, Effect, Entry, Interpreter, Note, Pending};
use crate::domain::clock::later;
use crate::domain::insight::{Outcome, StepCount};
use crate::domain::{Handoff, Timer, Wait};
use crate::engine::http_step::HttpRequest;
use crate::engine::template::render_json;
use crate::flows::{AskSpec, Expr, Flow, HttpSpec, Op, SendSpec, ValueSpec};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Steps one event may run before the run is stopped as a runaway (`goto` loops).
pub(super) const MAX_STEPS: usize = crate::flows::MAX_STEPS_PER_EVENT;

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
            self.at = Some((flow.clone(), pc));
            let next = match entry.take() {
                Some(Entry::Resume(at, answer)) => self.resume_step(&flow, pc, at, answer),
                Some(Entry::AgentTurn(text)) => {
                    self.begin_visit();
                    self.agent_message(&flow.clone(), pc, text)
                }
                Some(Entry::Step) | None => {
                    if budget == 0 {
                        self.fail(&flow, pc, format!("the flow ran more than {MAX_STEPS} steps for one message: a `goto` loop, or more than {MAX_STEPS} steps in a row with no `ask`, `delay` or `handoff` between them (split them with one)"));
                        self.count_run(&flow.id, Outcome::Errored);
                        return None;
                    }
                    budget -= 1;
                    if self.trace.is_some() {
                        self.trace_step(&flow, pc);
                    }
                    if pc >= flow.steps.len() {
                        self.state.run = None;
                        self.count_run(&flow.id, Outcome::Finished);
                        return None;
                    }
                    if let Some(run) = &mut self.state.run {
                        run.step = pc;
                    }
                    self.begin_visit();
                    self.count_step(&flow, pc, StepCount::Entered);
                    self.step(&flow.clone(), pc)
                }
            };
            self.after_step(&flow, pc, &next);
            match next {
                Next::To(p) => pc = p,
                Next::Flow(f) => {
                    flow = f;
                    pc = 0;
                }
                Next::Stop => return None,
                Next::Wait(effect, at) => {
                    self.pending = Some(Pending {
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
        match &flow.steps[pc].op {
            Op::Send(spec) => self.send_step(flow, spec, pc),
            Op::Ask(ask) => self.ask_step(flow, ask, pc),
            Op::Form(form) => self.form_step(flow, form, pc),
            Op::If { condition, .. } => self.eval(condition, Await::If),
            Op::Switch { on, .. } => self.eval(on, Await::Switch),
            Op::Set { .. } => self.set_step(flow, pc, 0),
            Op::Script { code, .. } => {
                Next::Wait(Effect::Script(self.script_job(code)), Await::Script)
            }
            Op::Http(spec) => self.http_step(spec),
            Op::Agent(spec) => self.agent_step(flow, spec, pc),
            Op::Handoff { timeout, message } => {
                self.handoff_step(flow, pc, *timeout, message.as_deref())
            }
            Op::Goto(t) => Next::To(*t),
            Op::GotoFlow(id) => self.goto_flow_step(flow, pc, id),
            Op::Delay(d) => self.delay_step(*d, pc),
            Op::Tag(tags) => {
                for t in tags {
                    self.patch.tag(t);
                }
                self.refresh_tags();
                Next::To(pc + 1)
            }
            Op::Untag(tags) => {
                for t in tags {
                    self.patch.untag(t);
                }
                self.refresh_tags();
                Next::To(pc + 1)
            }
            Op::End => {
                self.state.run = None;
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
                Err(e) => self.fail_step(
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
                Err(e) => self.fail_step(
                    flow,
                    pc,
                    format!("the switch value `{}` failed: {e}", on.source),
                ),
            },
            (Await::Set { index }, Op::Set { assignments }, Answer::Script(r)) => {
                let (target, value) = &assignments[index];
                match r {
                    Ok(o) => {
                        self.assign(target, o.value);
                        self.set_step(flow, pc, index + 1)
                    }
                    Err(err) => {
                        let source = match value {
                            ValueSpec::Expr(e) => e.source.as_str(),
                            ValueSpec::Text(t) => t.as_str(),
                            ValueSpec::Value(_) => "",
                        };
                        self.fail_step(flow, pc, format!("`= {source}` failed: {err}"))
                    }
                }
            }
            (Await::Script, Op::Script { on_error, .. }, Answer::Script(r)) => match r {
                Ok(outcome) => {
                    if let (Some(vars), Some(run)) = (outcome.vars, &mut self.state.run) {
                        let before = std::mem::replace(&mut run.vars, vars);
                        if let Some(why) = self.vars_over_budget(None, None) {
                            if let Some(run) = &mut self.state.run {
                                run.vars = before;
                            }
                            let why = format!("script failed: {why}");
                            return self.on_error(flow, pc, *on_error, why);
                        }
                    }
                    Next::To(pc + 1)
                }
                Err(e) => self.on_error(flow, pc, *on_error, format!("script failed: {e}")),
            },
            (Await::Http, Op::Http(spec), Answer::Http(r)) => {
                let over = match (&r, &spec.save_as) {
                    (Ok(v), Some(name)) => self.vars_over_budget(Some(name), Some(v)),
                    _ => None,
                };
                if let Some(why) = over {
                    return self.on_error(
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
                            self.set_var(name, v);
                        }
                        Err(why)
                    }
                });
                match (result, &spec.save_as) {
                    (Ok(v), Some(name)) => {
                        self.set_var(name, v);
                        Next::To(pc + 1)
                    }
                    (Ok(_), None) => Next::To(pc + 1),
                    (Err(e), _) => {
                        self.on_error(flow, pc, spec.on_error, format!("http step failed: {e}"))
                    }
                }
            }
            (Await::Agent, Op::Agent(spec), Answer::Model(r)) => {
                self.agent_answered(flow, spec, pc, r)
            }
            _ => self.fail_step(
                flow,
                pc,
                "the step was resumed with the answer of another step".into(),
            ),
        }
    }

    fn send_step(&mut self, flow: &Flow, spec: &SendSpec, pc: usize) -> Next {
        if let Err(why) = self.send(spec) {
            self.note_error(flow, pc, why);
        }
        Next::To(pc + 1)
    }

    fn ask_step(&mut self, flow: &Flow, ask: &AskSpec, pc: usize) -> Next {
        if let Some(prompt) = &ask.prompt {
            if let Err(why) = self.send(prompt) {
                self.note_error(flow, pc, why);
            }
        }
        let run = self.run_id();
        if let Some(r) = &mut self.state.run {
            r.wait = Some(Wait::Answer {
                step: pc,
                attempts: 0,
            });
        }
        if let Some(timeout) = ask.timeout {
            self.set_timer_after(Timer::AskTimeout { run, step: pc }, timeout);
        }
        Next::Stop
    }

    fn eval(&mut self, expr: &Expr, at: Await) -> Next {
        Next::Wait(Effect::Script(self.script_job(expr)), at)
    }

    /// Assigns the `set` step's values from the `from`-th on; an expression waits for its
    /// script.
    fn set_step(&mut self, flow: &Arc<Flow>, pc: usize, from: usize) -> Next {
        let Op::Set { assignments } = &flow.steps[pc].op else {
            return Next::To(pc + 1);
        };
        for (index, (target, value)) in assignments.iter().enumerate().skip(from) {
            match value {
                ValueSpec::Text(t) => {
                    let v = json!(self.render(t));
                    self.assign(target, v);
                }
                ValueSpec::Value(v) => self.assign(target, v.clone()),
                ValueSpec::Expr(e) => return self.eval(e, Await::Set { index }),
            }
        }
        Next::To(pc + 1)
    }

    fn http_step(&mut self, spec: &HttpSpec) -> Next {
        let req = HttpRequest {
            method: spec.method.clone(),
            url: self.render_url(&spec.url),
            headers: spec
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), self.render(v)))
                .collect(),
            body: spec.body.as_ref().map(|b| render_json(b, &self.scope())),
            timeout: spec.timeout,
        };
        Next::Wait(Effect::Http(req), Await::Http)
    }

    fn handoff_step(
        &mut self,
        flow: &Flow,
        pc: usize,
        timeout: Option<Duration>,
        message: Option<&SendSpec>,
    ) -> Next {
        if let Some(m) = message {
            if let Err(why) = self.send(m) {
                self.note_error(flow, pc, why);
            }
        }
        self.hand_off(flow, pc, timeout);
        Next::Stop
    }

    /// A person takes the conversation (until `timeout`, if any); the run ends.
    pub(super) fn hand_off(&mut self, flow: &Flow, pc: usize, timeout: Option<Duration>) {
        // `later` saturates a timeout the loader should have refused (past ten years)
        // instead of panicking on the overflow.
        let until = timeout.map(|t| later(self.now, t));
        self.visit_handed_off = true;
        self.notes.push(Note::HandedOff {
            flow: flow.id.clone(),
            until,
        });
        self.state.handoff = Some(Handoff {
            since: self.now,
            until,
            flow: flow.id.clone(),
        });
        match timeout {
            Some(t) => {
                let run = self.run_id();
                self.set_timer_after(Timer::HandoffTimeout { run, step: pc }, t);
            }
            // Until released: an earlier handoff's timeout (one released before this
            // handoff began) must not end this one.
            None => self.cancel_timer(&crate::domain::TimerKind::HandoffTimeout),
        }
        self.state.run = None;
    }

    fn goto_flow_step(&mut self, flow: &Flow, pc: usize, id: &str) -> Next {
        let Some(next) = self.library.flows().get(id).cloned() else {
            return self.fail_step(flow, pc, format!("there is no flow `{id}` any more"));
        };
        if let Some(run) = &mut self.state.run {
            run.flow = next.id.clone();
            run.version = next.version;
            run.offered.clear();
        }
        Next::Flow(next)
    }

    fn delay_step(&mut self, d: Duration, pc: usize) -> Next {
        let run = self.run_id();
        if let Some(r) = &mut self.state.run {
            r.wait = Some(Wait::Delay { step: pc });
        }
        self.set_timer_after(Timer::Delay { run, step: pc }, d);
        Next::Stop
    }

    /// A step failed: its `on_error` path if it has one, else the run ends.
    fn on_error(
        &mut self,
        flow: &Flow,
        pc: usize,
        on_error: Option<usize>,
        message: String,
    ) -> Next {
        match on_error {
            Some(t) => {
                self.note_error(flow, pc, message);
                Next::To(t)
            }
            None => self.fail_step(flow, pc, message),
        }
    }

    pub(super) fn fail_step(&mut self, flow: &Flow, pc: usize, message: String) -> Next {
        self.fail(flow, pc, message);
        Next::Stop
    }

    fn trace_step(&mut self, flow: &Flow, pc: usize) {
        let vars = self.state.run.as_ref().map(|r| r.vars.clone());
        if let Some(trace) = &mut self.trace {
            trace.step(flow, pc);
            if let Some(vars) = vars {
                trace.last_vars = Some(vars);
            }
        }
    }

    pub(super) fn note_error(&mut self, flow: &Flow, step: usize, message: String) {
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
        self.state.last_error = Some(crate::domain::StepError {
            flow: flow.id.clone(),
            step,
            message,
            at: self.now,
        });
    }

    /// Ends the run after an error; the next message starts afresh.
    pub(super) fn fail(&mut self, flow: &Flow, step: usize, message: String) {
        self.note_error(flow, step, message);
        self.state.run = None;
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
