//! Runs a conversation's flow for one event: start a run when a trigger matches, feed an
//! answer to the `ask` waiting for it, or resume after a timer, then execute steps until
//! the run waits or ends. A step error takes the step's `on_error` path, or ends the run;
//! either way the conversation goes on.

use super::answer;
use super::http_step::{self, HttpRequest};
use super::scope;
use super::state::{
    ConversationState, Handoff, Run, ScheduledRun, StepError, TimerPayload, Wait,
    WindowClosingPayload, ASK_TIMEOUT, DEBOUNCE, DELAY, HANDOFF_TIMEOUT, RELEASE, SCHEDULED,
    WINDOW_CLOSING,
};
use super::template::{render, render_json};
use super::{FlowEngine, Reply, StepOutput};
use crate::domain::limits;
use crate::domain::{
    InboundContent, InboundMessage, ListRow, ListSection, OutboundContent, ReplyButton,
    TemplateMessage, WindowFallback,
};
use crate::flows::schedule::{LAST_REENGAGED_AT, OPTED_OUT};
use crate::flows::script;
use crate::flows::TriggerKind;
use crate::flows::{
    ContentSpec, Expr, FallbackSpec, Flow, MatchInput, Op, SendSpec, SetTarget, TemplateSpec,
    ValueSpec,
};
use crate::store::{ContactPatch, NewTimer, TimerFire};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Steps one event may run before the run is stopped as a runaway (`goto` loops).
const MAX_STEPS_PER_EVENT: usize = 200;
/// Scheduled flows kept waiting for a run in progress to end (one per flow).
const MAX_DEFERRED: usize = 16;

pub(super) struct Exec<'a> {
    pub engine: &'a FlowEngine,
    pub now: DateTime<Utc>,
    pub window: crate::domain::WindowState,
    pub contact: Value,
    pub message: Value,
    pub state: ConversationState,
    pub out: StepOutput,
    pub patch: ContactPatch,
    /// Filled only when the caller asked for a trace (sandbox, flow tests).
    pub trace: Option<Box<super::trace::Trace>>,
}

impl Exec<'_> {
    pub async fn on_message(&mut self, msg: InboundMessage) {
        let new_contact = self.state.messages_seen == 0;
        self.state.messages_seen += 1;
        self.schedule_window_reminders();
        let folded = msg
            .content
            .text()
            .map(crate::flows::normalize)
            .unwrap_or_default();
        if !folded.is_empty() && self.engine.options.opt_out_keywords.contains(&folded) {
            return self.opt_out();
        }
        if self.contact.get(OPTED_OUT).and_then(Value::as_bool) == Some(true) {
            // Writing again is opting back in.
            self.contact[OPTED_OUT] = Value::Null;
            self.patch
                .set_attributes
                .insert(OPTED_OUT.into(), Value::Null);
        }
        if let (Some(quiet), InboundContent::Text { body }) = (self.debounce(), &msg.content) {
            self.state.pending_texts.push(body.clone());
            self.timer_at(DEBOUNCE, self.now + to_chrono(quiet), json!({}));
            return;
        }
        if !self.state.pending_texts.is_empty() {
            // A non-text message ends the quiet period: the held texts go first.
            self.flush_pending(&msg).await;
        }
        self.handle_message(&msg, new_contact).await;
    }

    /// The quiet period that applies now: the current flow's, else the global one.
    fn debounce(&self) -> Option<std::time::Duration> {
        let flow = self.flow_of_run().and_then(|f| f.debounce);
        flow.or(self.engine.options.debounce)
            .filter(|d| !d.is_zero())
    }

    async fn flush_pending(&mut self, template: &InboundMessage) {
        let texts = std::mem::take(&mut self.state.pending_texts);
        if texts.is_empty() {
            return;
        }
        let mut joined = template.clone();
        joined.content = InboundContent::Text {
            body: texts.join("\n"),
        };
        self.message = super::scope::message_view(Some(&joined.content));
        self.handle_message(&joined, false).await;
    }

    fn opt_out(&mut self) {
        self.decide(|| "the message is an opt-out keyword: scheduled messages stop".into());
        self.contact[OPTED_OUT] = json!(true);
        self.patch
            .set_attributes
            .insert(OPTED_OUT.into(), json!(true));
        self.state.pending_texts.clear();
        self.state.run = None;
        self.cancel_waits();
        if let Some(reply) = &self.engine.options.opt_out_reply {
            let body = self.render(reply);
            self.reply(
                OutboundContent::Text {
                    body,
                    preview_url: false,
                },
                WindowFallback::Skip,
            );
        }
    }

    /// (Re)sets the timers of `window_closing` triggers for the window this message opened.
    fn schedule_window_reminders(&mut self) {
        let Some(expires_at) = self.window.expires_at else {
            return;
        };
        let flows = self.engine.flows();
        for flow in flows.flows() {
            for t in &flow.triggers {
                if let TriggerKind::WindowClosing { before } = t.kind {
                    let due = expires_at - to_chrono(before);
                    if due > self.now {
                        let purpose = format!("{WINDOW_CLOSING}{}", flow.id);
                        self.timer_at(&purpose, due, json!(WindowClosingPayload { expires_at }));
                    }
                }
            }
        }
    }

    async fn handle_message(&mut self, msg: &InboundMessage, new_contact: bool) {
        if let Some(h) = &self.state.handoff {
            if h.until.is_none_or(|u| self.now < u) {
                // A person is handling this conversation: the bot stays silent.
                self.decide(|| {
                    "a person is handling this conversation: the bot stays silent".into()
                });
                return;
            }
            self.state.handoff = None;
        }
        let waiting = matches!(
            self.state.run.as_ref().and_then(|r| r.wait.as_ref()),
            Some(Wait::Answer { .. })
        );
        let flows = self.engine.flows();
        let input = MatchInput {
            content: &msg.content,
            referral: msg.referral.as_ref(),
            new_contact,
            waiting,
        };
        let matched = flows.best_match(&input);
        if let Some(trace) = &mut self.trace {
            trace.triggers = Some(flows.explain(&input));
        }
        if let Some(m) = matched {
            let mut vars = Map::new();
            for (k, v) in m.captures {
                vars.insert(k, json!(v));
            }
            self.decide(|| format!("start flow `{}`", m.flow.id));
            self.start(m.flow, vars).await;
            return;
        }
        if waiting {
            self.decide(|| "no trigger counts: the message answers the question".into());
            self.answer(&msg.content).await;
        } else {
            self.decide(|| "no flow starts".into());
        }
    }

    pub async fn on_timer(&mut self, fire: &TimerFire) {
        match fire.purpose.as_str() {
            DEBOUNCE => {
                let template = InboundMessage {
                    provider_message_id: String::new(),
                    from: crate::domain::ContactRef::BusinessScoped(String::new()),
                    profile_name: None,
                    username: None,
                    timestamp: Some(self.now),
                    content: InboundContent::Text {
                        body: String::new(),
                    },
                    context: None,
                    referral: None,
                };
                return self.flush_pending(&template).await;
            }
            RELEASE => {
                self.state.handoff = None;
                return;
            }
            SCHEDULED => {
                let Ok(run) = serde_json::from_value::<ScheduledRun>(fire.payload.clone()) else {
                    return;
                };
                return self.scheduled(&run).await;
            }
            p if p.starts_with(WINDOW_CLOSING) => {
                let Ok(w) = serde_json::from_value::<WindowClosingPayload>(fire.payload.clone())
                else {
                    return;
                };
                // Stale when the customer wrote again (a newer window). Skipped while a
                // person handles the conversation or a run waits (an `ask`, a `delay`): a
                // reminder never replaces a flow in progress, whose own sends say what to do
                // if the window has closed by then.
                if self.window.expires_at != Some(w.expires_at) {
                    return;
                }
                if self.state.handoff.is_some() {
                    self.decide(|| "reminder skipped: a person handles the conversation".into());
                    return;
                }
                if let Some(run) = self.state.run.as_ref().filter(|r| r.wait.is_some()) {
                    let flow = run.flow.clone();
                    self.decide(|| {
                        format!("reminder skipped: flow `{flow}` is waiting and keeps going")
                    });
                    return;
                }
                if let Some(flow) = self.engine.flows().get(&p[WINDOW_CLOSING.len()..]).cloned() {
                    self.start(flow, Map::new()).await;
                }
                return;
            }
            _ => {}
        }
        let Ok(payload) = serde_json::from_value::<TimerPayload>(fire.payload.clone()) else {
            return;
        };
        match fire.purpose.as_str() {
            HANDOFF_TIMEOUT => self.state.handoff = None,
            ASK_TIMEOUT | DELAY => {
                let Some(run) = &self.state.run else { return };
                let current = match &run.wait {
                    Some(Wait::Answer { step, .. }) if fire.purpose == ASK_TIMEOUT => Some(*step),
                    Some(Wait::Delay { step }) if fire.purpose == DELAY => Some(*step),
                    _ => None,
                };
                // A timer of a run that moved on is stale.
                if run.id != payload.run || current != Some(payload.step) {
                    return;
                }
                let Some(flow) = self.flow_of_run() else {
                    return;
                };
                let next = match flow.steps.get(payload.step).map(|s| &s.op) {
                    Some(Op::Ask(a)) => match a.on_timeout {
                        Some(t) => t,
                        None => {
                            self.state.run = None;
                            return;
                        }
                    },
                    _ => payload.step + 1,
                };
                if let Some(run) = &mut self.state.run {
                    run.wait = None;
                }
                self.execute(flow, next).await;
            }
            _ => {}
        }
    }

    /// A schedule reaches this contact: start its flow, unless the contact opted out or a
    /// person is handling the conversation.
    async fn scheduled(&mut self, run: &ScheduledRun) {
        if self.contact.get(OPTED_OUT).and_then(Value::as_bool) == Some(true)
            || self.state.handoff.is_some()
        {
            return;
        }
        if let Some(waiting) = self.state.run.as_ref().filter(|r| r.wait.is_some()) {
            // Neither is lost: the run in progress keeps going, the scheduled flow starts
            // when it ends (one per flow; a newer fire of the same flow replaces an older).
            let (current, deferred) = (waiting.flow.clone(), run.flow.clone());
            self.decide(|| {
                format!("scheduled flow `{deferred}` waits until flow `{current}` ends")
            });
            self.state.deferred.retain(|d| d.flow != run.flow);
            if self.state.deferred.len() < MAX_DEFERRED {
                self.state.deferred.push(run.clone());
            } else {
                tracing::warn!(flow = %run.flow, "scheduled flow dropped: {MAX_DEFERRED} others already wait for this conversation's run to end");
            }
            return;
        }
        let Some(flow) = self.engine.flows().get(&run.flow).cloned() else {
            return;
        };
        self.decide(|| format!("scheduled run of flow `{}`", flow.id));
        let stamp = json!(self.now.to_rfc3339());
        self.contact[LAST_REENGAGED_AT] = stamp.clone();
        self.patch
            .set_attributes
            .insert(LAST_REENGAGED_AT.into(), stamp);
        self.start(flow, Map::new()).await;
    }

    /// Once no run is in progress, starts the scheduled flows that waited for it.
    pub async fn start_deferred(&mut self) {
        while self.state.run.is_none() && !self.state.deferred.is_empty() {
            let next = self.state.deferred.remove(0);
            self.scheduled(&next).await;
        }
    }

    /// Starts `flow` from its first step, replacing any run in progress.
    async fn start(&mut self, flow: Arc<Flow>, vars: Map<String, Value>) {
        self.cancel_waits();
        self.state.runs_started += 1;
        self.state.run = Some(Run {
            id: self.state.runs_started,
            flow: flow.id.clone(),
            version: flow.version,
            step: 0,
            vars,
            wait: None,
            offered: Vec::new(),
            started_at: self.now,
        });
        self.execute(flow, 0).await;
    }

    fn cancel_waits(&mut self) {
        for purpose in [ASK_TIMEOUT, DELAY] {
            if !self.out.cancel_timers.iter().any(|p| p == purpose) {
                self.out.cancel_timers.push(purpose.to_string());
            }
        }
        self.out
            .timers
            .retain(|t| t.purpose != ASK_TIMEOUT && t.purpose != DELAY);
    }

    fn flow_of_run(&self) -> Option<Arc<Flow>> {
        let run = self.state.run.as_ref()?;
        self.engine.flow_version(&run.flow, run.version)
    }

    async fn answer(&mut self, content: &InboundContent) {
        let Some(flow) = self.flow_of_run() else {
            self.state.run = None;
            return;
        };
        let Some(run) = &self.state.run else { return };
        let Some(Wait::Answer { step, attempts }) = run.wait.clone() else {
            return;
        };
        let Some(Op::Ask(ask)) = flow.steps.get(step).map(|s| &s.op) else {
            self.state.run = None;
            return;
        };
        match answer::check(&ask.expect, content, &run.offered) {
            Ok(value) => {
                self.decide(|| format!("the answer is saved as `{}`: {value}", ask.save_as));
                if let Some(run) = &mut self.state.run {
                    run.vars.insert(ask.save_as.clone(), value);
                    run.wait = None;
                }
                self.cancel_waits();
                self.execute(flow.clone(), step + 1).await;
            }
            Err(default_text) => {
                self.decide(|| {
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
                    let body = self.render(&text);
                    self.reply(
                        OutboundContent::Text {
                            body,
                            preview_url: false,
                        },
                        WindowFallback::Fail,
                    );
                } else {
                    self.cancel_waits();
                    match ask.on_invalid {
                        Some(t) => {
                            if let Some(run) = &mut self.state.run {
                                run.wait = None;
                            }
                            self.execute(flow.clone(), t).await;
                        }
                        None => self.state.run = None,
                    }
                }
            }
        }
    }

    /// Runs steps from `pc` until the run waits or ends.
    async fn execute(&mut self, mut flow: Arc<Flow>, mut pc: usize) {
        for _ in 0..MAX_STEPS_PER_EVENT {
            if self.trace.is_some() {
                self.trace_step(&flow, pc);
            }
            let Some(step) = flow.steps.get(pc) else {
                self.state.run = None;
                return;
            };
            if let Some(run) = &mut self.state.run {
                run.step = pc;
            }
            match &step.op {
                Op::Send(spec) => {
                    self.send(spec);
                    pc += 1;
                }
                Op::Ask(ask) => {
                    if let Some(prompt) = &ask.prompt {
                        self.send(prompt);
                    }
                    let run_id = self.run_id();
                    if let Some(run) = &mut self.state.run {
                        run.wait = Some(Wait::Answer {
                            step: pc,
                            attempts: 0,
                        });
                    }
                    if let Some(timeout) = ask.timeout {
                        self.timer(ASK_TIMEOUT, timeout, run_id, pc);
                    }
                    return;
                }
                Op::If {
                    condition,
                    then,
                    otherwise,
                } => match self.eval(condition).await.map(|v| truthy(&v)) {
                    Ok(true) => pc = *then,
                    Ok(false) => pc = *otherwise,
                    Err(e) => {
                        return self.fail(
                            &flow,
                            pc,
                            format!("the condition `{}` failed: {e}", condition.source),
                        )
                    }
                },
                Op::Switch { on, cases, default } => match self.eval(on).await {
                    Ok(v) => {
                        let key = match &v {
                            Value::String(s) => s.clone(),
                            Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        pc = cases
                            .iter()
                            .find(|(c, _)| *c == key)
                            .map(|(_, t)| *t)
                            .unwrap_or(*default);
                    }
                    Err(e) => {
                        return self.fail(
                            &flow,
                            pc,
                            format!("the switch value `{}` failed: {e}", on.source),
                        )
                    }
                },
                Op::Set { assignments } => {
                    for (target, value) in assignments {
                        let v = match value {
                            ValueSpec::Text(t) => json!(self.render(t)),
                            ValueSpec::Expr(e) => match self.eval(e).await {
                                Ok(v) => v,
                                Err(err) => {
                                    return self.fail(
                                        &flow,
                                        pc,
                                        format!("`= {}` failed: {err}", e.source),
                                    )
                                }
                            },
                        };
                        self.assign(target, v);
                    }
                    pc += 1;
                }
                Op::Script { code, on_error } => match self.script(code).await {
                    Ok(()) => pc += 1,
                    Err(e) => match on_error {
                        Some(t) => {
                            self.note_error(&flow, pc, format!("script failed: {e}"));
                            pc = *t;
                        }
                        None => return self.fail(&flow, pc, format!("script failed: {e}")),
                    },
                },
                Op::Http(spec) => {
                    let req = HttpRequest {
                        method: spec.method.clone(),
                        url: self.render(&spec.url),
                        headers: spec
                            .headers
                            .iter()
                            .map(|(k, v)| (k.clone(), self.render(v)))
                            .collect(),
                        body: spec.body.as_ref().map(|b| render_json(b, &self.scope())),
                        timeout: spec.timeout,
                    };
                    let result = http_step::call(&self.engine.http, &self.engine.reach, req).await;
                    let result = result.and_then(|v| {
                        if v["ok"] == json!(true) {
                            Ok(v)
                        } else {
                            Err(format!("the server answered with status {}", v["status"]))
                        }
                    });
                    match (result, &spec.save_as) {
                        (Ok(v), Some(name)) => {
                            self.set_var(name, v);
                            pc += 1;
                        }
                        (Ok(_), None) => pc += 1,
                        (Err(e), _) => match spec.on_error {
                            Some(t) => {
                                self.note_error(&flow, pc, format!("http step failed: {e}"));
                                pc = t;
                            }
                            None => return self.fail(&flow, pc, format!("http step failed: {e}")),
                        },
                    }
                }
                Op::Handoff { timeout, message } => {
                    if let Some(m) = message {
                        self.send(m);
                    }
                    let until = timeout
                        .and_then(|t| chrono::Duration::from_std(t).ok())
                        .map(|t| self.now + t);
                    tracing::info!(flow = %flow.id, until = ?until, "conversation handed off to a person");
                    self.state.handoff = Some(Handoff {
                        since: self.now,
                        until,
                        flow: flow.id.clone(),
                    });
                    if let Some(t) = timeout {
                        let run_id = self.run_id();
                        self.timer(HANDOFF_TIMEOUT, *t, run_id, pc);
                    }
                    self.state.run = None;
                    return;
                }
                Op::Goto(t) => pc = *t,
                Op::GotoFlow(id) => {
                    let Some(next) = self.engine.flows().get(id).cloned() else {
                        return self.fail(&flow, pc, format!("there is no flow `{id}` any more"));
                    };
                    if let Some(run) = &mut self.state.run {
                        run.flow = next.id.clone();
                        run.version = next.version;
                        run.offered.clear();
                    }
                    flow = next;
                    pc = 0;
                }
                Op::Delay(d) => {
                    let run_id = self.run_id();
                    if let Some(run) = &mut self.state.run {
                        run.wait = Some(Wait::Delay { step: pc });
                    }
                    self.timer(DELAY, *d, run_id, pc);
                    return;
                }
                Op::Tag(tags) => {
                    for t in tags {
                        self.patch.remove_tags.retain(|x| x != t);
                        if !self.patch.add_tags.contains(t) {
                            self.patch.add_tags.push(t.clone());
                        }
                    }
                    self.refresh_tags();
                    pc += 1;
                }
                Op::Untag(tags) => {
                    for t in tags {
                        self.patch.add_tags.retain(|x| x != t);
                        if !self.patch.remove_tags.contains(t) {
                            self.patch.remove_tags.push(t.clone());
                        }
                    }
                    self.refresh_tags();
                    pc += 1;
                }
                Op::End => {
                    self.state.run = None;
                    return;
                }
            }
        }
        self.fail(&flow, pc, format!("the flow ran more than {MAX_STEPS_PER_EVENT} steps for one message; is there a `goto` loop?"));
    }

    /// Records a decision in the trace; the words are only built when tracing.
    fn decide(&mut self, words: impl FnOnce() -> String) {
        if let Some(trace) = &mut self.trace {
            trace.decisions.push(words());
        }
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

    fn run_id(&self) -> u64 {
        self.state.run.as_ref().map(|r| r.id).unwrap_or(0)
    }

    fn timer(&mut self, purpose: &str, after: std::time::Duration, run: u64, step: usize) {
        self.timer_at(
            purpose,
            self.now + to_chrono(after),
            json!(TimerPayload { run, step }),
        );
    }

    /// Sets the conversation's one timer for `purpose`, replacing an earlier one.
    fn timer_at(&mut self, purpose: &str, due_at: DateTime<Utc>, payload: Value) {
        if let Some(trace) = &mut self.trace {
            trace
                .timers
                .push(format!("{purpose} at {}", due_at.to_rfc3339()));
        }
        if !self.out.cancel_timers.iter().any(|p| p == purpose) {
            self.out.cancel_timers.push(purpose.to_string());
        }
        self.out.timers.retain(|t| t.purpose != purpose);
        self.out.timers.push(NewTimer {
            purpose: purpose.to_string(),
            due_at,
            payload,
        });
    }

    fn note_error(&mut self, flow: &Flow, step: usize, message: String) {
        tracing::warn!(flow = %flow.id, step, %message, "flow step failed");
        if let Some(trace) = &mut self.trace {
            let line = flow.steps.get(step).map(|s| s.at.line).unwrap_or(0);
            trace
                .errors
                .push(format!("{}:{line}: {message}", flow.file));
        }
        self.state.last_error = Some(StepError {
            flow: flow.id.clone(),
            step,
            message,
            at: self.now,
        });
    }

    /// Ends the run after an error; the next message starts afresh.
    fn fail(&mut self, flow: &Flow, step: usize, message: String) {
        self.note_error(flow, step, message);
        self.state.run = None;
    }

    fn scope(&self) -> Value {
        let empty = Map::new();
        let vars = self.state.run.as_ref().map(|r| &r.vars).unwrap_or(&empty);
        scope::template_scope(&self.contact, vars, &self.message, self.now)
    }

    fn render(&self, text: &str) -> String {
        render(text, &self.scope())
    }

    fn set_var(&mut self, name: &str, value: Value) {
        if let Some(run) = &mut self.state.run {
            run.vars.insert(name.to_string(), value);
        }
    }

    fn assign(&mut self, target: &SetTarget, value: Value) {
        match target {
            SetTarget::Var(name) => self.set_var(name, value),
            SetTarget::ContactName => {
                let name = match &value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                self.contact["name"] = json!(name);
                self.patch.name = Some(name);
            }
            SetTarget::ContactAttribute(key) => {
                self.contact[key.as_str()] = value.clone();
                self.patch.set_attributes.insert(key.clone(), value);
            }
        }
    }

    fn refresh_tags(&mut self) {
        let mut tags: Vec<String> = self.contact["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        tags.retain(|t| !self.patch.remove_tags.contains(t));
        for t in &self.patch.add_tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        self.contact["tags"] = json!(tags);
    }

    /// Runs Rhai code on the script pool (never on this thread) with the run's `vars`,
    /// the contact and the message.
    async fn run_script(&self, code: &Expr) -> Result<script::Outcome, String> {
        let inputs = script::Inputs {
            vars: self
                .state
                .run
                .as_ref()
                .map(|r| r.vars.clone())
                .unwrap_or_default(),
            contact: self.contact.clone(),
            message: self.message.clone(),
        };
        let ast = code.ast.clone();
        self.engine
            .scripts
            .run(move |rhai| script::run_on(rhai, &ast, inputs))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    async fn eval(&self, expr: &Expr) -> Result<Value, String> {
        self.run_script(expr).await.map(|o| o.value)
    }

    /// Runs a script; it may change `vars`.
    async fn script(&mut self, code: &Expr) -> Result<(), String> {
        let outcome = self.run_script(code).await?;
        if let (Some(vars), Some(run)) = (outcome.vars, &mut self.state.run) {
            run.vars = vars;
        }
        Ok(())
    }

    fn reply(&mut self, content: OutboundContent, fallback: WindowFallback) {
        if let Some(trace) = &mut self.trace {
            trace.send(&content, &fallback);
        }
        self.out.replies.push(Reply { content, fallback });
    }

    fn send(&mut self, spec: &SendSpec) {
        let content = self.content(&spec.content);
        if let OutboundContent::Buttons { buttons, .. } = &content {
            let offered = buttons
                .iter()
                .map(|b| (b.id.clone(), b.title.clone()))
                .collect();
            if let Some(run) = &mut self.state.run {
                run.offered = offered;
            }
        } else if let OutboundContent::List { sections, .. } = &content {
            let offered = sections
                .iter()
                .flat_map(|s| s.rows.iter().map(|r| (r.id.clone(), r.title.clone())))
                .collect();
            if let Some(run) = &mut self.state.run {
                run.offered = offered;
            }
        }
        let fallback = match &spec.if_window_closed {
            FallbackSpec::Undeclared | FallbackSpec::Fail => WindowFallback::Fail,
            FallbackSpec::Skip => WindowFallback::Skip,
            FallbackSpec::Template(t) => WindowFallback::Template(self.template(t)),
        };
        self.reply(content, fallback);
    }

    fn template(&self, t: &TemplateSpec) -> TemplateMessage {
        TemplateMessage {
            name: t.name.clone(),
            language: t.language.clone(),
            variables: t
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), self.render(v)))
                .collect(),
            quick_reply_payloads: t.quick_reply_payloads.clone(),
            content_sid: t.content_sid.clone(),
        }
    }

    fn content(&self, spec: &ContentSpec) -> OutboundContent {
        let r = |s: &str| self.render(s);
        let ro = |s: &Option<String>| s.as_deref().map(|x| self.render(x));
        match spec {
            ContentSpec::Text { body } => OutboundContent::Text {
                body: clip(r(body), limits::TEXT_MAX),
                preview_url: false,
            },
            ContentSpec::Media {
                media,
                url,
                caption,
                filename,
            } => OutboundContent::Media {
                media: *media,
                link: r(url),
                caption: ro(caption).map(|c| clip(c, limits::BODY_MAX)),
                filename: ro(filename),
            },
            ContentSpec::Location {
                latitude,
                longitude,
                name,
                address,
            } => OutboundContent::Location {
                latitude: *latitude,
                longitude: *longitude,
                name: ro(name),
                address: ro(address),
            },
            ContentSpec::Buttons {
                body,
                header,
                footer,
                buttons,
            } => OutboundContent::Buttons {
                body: clip(r(body), limits::BODY_MAX),
                header: ro(header),
                footer: ro(footer),
                buttons: buttons
                    .iter()
                    .map(|(id, title)| ReplyButton {
                        id: id.clone(),
                        title: title.clone(),
                    })
                    .collect(),
            },
            ContentSpec::List {
                body,
                header,
                footer,
                button,
                sections,
            } => OutboundContent::List {
                body: clip(r(body), limits::BODY_MAX),
                header: ro(header),
                footer: ro(footer),
                button: button.clone(),
                sections: sections
                    .iter()
                    .map(|(title, rows)| ListSection {
                        title: title.clone(),
                        rows: rows
                            .iter()
                            .map(|(id, title, description)| ListRow {
                                id: id.clone(),
                                title: title.clone(),
                                description: description.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
            },
            ContentSpec::UrlButton {
                body,
                header,
                footer,
                text,
                url,
            } => OutboundContent::UrlButton {
                body: clip(r(body), limits::BODY_MAX),
                header: ro(header),
                footer: ro(footer),
                display_text: text.clone(),
                url: r(url),
            },
            ContentSpec::Template(t) => OutboundContent::Template(self.template(t)),
        }
    }
}

/// A template can render longer than the limit it was checked against; cut it rather
/// than have the provider refuse the message.
fn clip(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut cut: String = s.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

fn to_chrono(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
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
