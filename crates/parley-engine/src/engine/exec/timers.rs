//! Events that are not a customer's message: a timer coming due (the end of a debounce's
//! quiet period, a handoff's release or timeout, a window reminder, an `ask`'s timeout, a
//! `delay`) and a schedule reaching the contact, with the scheduled flows that wait for a
//! run in progress to end.

use super::{Interpreter, Note, Task};
use crate::domain::insight::StepCount;
use crate::domain::{
    InboundContent, InboundMessage, ScheduledRun, Timer, TimerFire, TimerKind, Wait,
};
use crate::flows::schedule::{Member, LAST_REENGAGED_AT, OPTED_OUT};
use crate::flows::Op;
use serde_json::{json, Map, Value};

/// Scheduled flows kept waiting for a run in progress to end (one per flow).
const MAX_DEFERRED: usize = 16;

impl Interpreter<'_> {
    pub(super) fn on_timer(&mut self, fire: TimerFire) {
        match fire.timer {
            Timer::Debounce => {
                let like = InboundMessage {
                    provider_message_id: String::new(),
                    from: crate::domain::ContactRef::BusinessScoped(String::new()),
                    profile_name: None,
                    username: None,
                    timestamp: Some(self.ctx.now),
                    content: InboundContent::Text {
                        body: String::new(),
                    },
                    context: None,
                    referral: None,
                };
                self.flush_pending(&like);
            }
            Timer::Release { .. } => {
                self.state.handoff = None;
                // The released handoff's timeout goes with it, or it would end the next one.
                self.output.cancel_timer(&TimerKind::HandoffTimeout);
                super::routing::take_back(&self.ctx, &mut self.state, &mut self.output);
            }
            Timer::HandoffTimeout { .. } => {
                self.state.handoff = None;
                super::routing::take_back(&self.ctx, &mut self.state, &mut self.output);
            }
            Timer::Scheduled(run) => self.scheduled(&run),
            Timer::WindowClosing { flow, expires_at } => {
                // Stale when the customer wrote again (a newer window). Skipped while a
                // person handles the conversation or a run waits (an `ask`, a `delay`): a
                // reminder never replaces a flow in progress, whose own sends say what to do
                // if the window has closed by then.
                if self.ctx.window.expires_at != Some(expires_at) {
                    return;
                }
                if self.state.handoff.is_some() {
                    self.output
                        .decide(|| "reminder skipped: a person handles the conversation".into());
                    return;
                }
                if let Some(run) = self.state.run.as_ref().filter(|r| r.wait.is_some()) {
                    let flow = run.flow.clone();
                    self.output.decide(|| {
                        format!("reminder skipped: flow `{flow}` is waiting and keeps going")
                    });
                    return;
                }
                if let Some(flow) = self.ctx.library.flows().get(&flow).cloned() {
                    self.start(flow, Map::new());
                }
            }
            Timer::AskTimeout { run, step } => self.wait_over(TimerKind::AskTimeout, run, step),
            Timer::Delay { run, step } => self.wait_over(TimerKind::Delay, run, step),
            Timer::Unknown { .. } => {}
        }
    }

    /// The timer of an `ask` (its timeout) or a `delay` of run `run` at `step` is due.
    fn wait_over(&mut self, kind: TimerKind, run_id: u64, at: usize) {
        let Some(run) = &self.state.run else { return };
        let current = match &run.wait {
            Some(Wait::Answer { step, .. } | Wait::Form { step, .. })
                if kind == TimerKind::AskTimeout =>
            {
                Some(*step)
            }
            Some(Wait::Delay { step }) if kind == TimerKind::Delay => Some(*step),
            _ => None,
        };
        // A timer of a run that moved on is stale.
        if run.id != run_id || current != Some(at) {
            return;
        }
        let Some(flow) = self.flow_of_run() else {
            return;
        };
        let next = match flow.steps.get(at).map(|s| &s.op) {
            Some(Op::Ask(a)) => {
                self.leave_wait(&flow, at, StepCount::TimedOut, a.on_timeout.is_none());
                match a.on_timeout {
                    Some(t) => t,
                    None => return,
                }
            }
            Some(Op::Form(f)) => {
                self.leave_wait(&flow, at, StepCount::TimedOut, f.on_timeout.is_none());
                match f.on_timeout {
                    Some(t) => t,
                    None => {
                        self.output
                            .decide(|| "nobody submitted the form in time: the flow ends".into());
                        return;
                    }
                }
            }
            _ => {
                self.output.count_step(&flow, at, StepCount::Answered);
                at + 1
            }
        };
        if let Some(run) = &mut self.state.run {
            run.wait = None;
        }
        self.then([Task::Execute { flow, pc: next }]);
    }

    /// A schedule reaches this contact: start its flow, unless the contact opted out or a
    /// person is handling the conversation.
    pub(super) fn scheduled(&mut self, run: &ScheduledRun) {
        if self.contact.view.get(OPTED_OUT).and_then(Value::as_bool) == Some(true)
            || self.state.handoff.is_some()
        {
            return;
        }
        if let Some(waiting) = self.state.run.as_ref().filter(|r| r.wait.is_some()) {
            // Neither is lost: the run in progress keeps going, the scheduled flow starts
            // when it ends (one per flow; a newer fire of the same flow replaces an older).
            let (current, deferred) = (waiting.flow.clone(), run.flow.clone());
            self.output.decide(|| {
                format!("scheduled flow `{deferred}` waits until flow `{current}` ends")
            });
            self.state.deferred.retain(|d| d.flow != run.flow);
            if self.state.deferred.len() < MAX_DEFERRED {
                self.state.deferred.push(run.clone());
            } else {
                self.output.notes.push(Note::DeferredDropped {
                    flow: run.flow.clone(),
                    max: MAX_DEFERRED,
                });
            }
            return;
        }
        let Some(flow) = self.ctx.library.flows().get(&run.flow).cloned() else {
            return;
        };
        self.output
            .decide(|| format!("scheduled run of flow `{}`", flow.id));
        let stamp = json!(self.ctx.now.to_rfc3339());
        self.contact.view[LAST_REENGAGED_AT] = stamp.clone();
        self.contact
            .patch
            .set_attributes
            .insert(LAST_REENGAGED_AT.into(), stamp);
        self.start(flow, Map::new());
    }

    /// Once no run is in progress, starts the scheduled flows that waited for it, one at a
    /// time (each may start a run that waits again).
    pub(super) fn start_deferred(&mut self) {
        if self.state.run.is_none() && !self.state.deferred.is_empty() {
            let next = self.state.deferred.remove(0);
            self.then([Task::ScheduledAfterWait(next), Task::StartDeferred]);
        }
    }

    /// A scheduled flow that waited for another run starts only if its schedule would
    /// still choose this contact now: the customer may have written since (`inactive_for`),
    /// lost a tag, left the flow `in_flow` named, or had another scheduled flow meanwhile
    /// (`frequency_cap`).
    pub(super) fn scheduled_after_wait(&mut self, run: &ScheduledRun) {
        let Some(flow) = self.ctx.library.flows().get(&run.flow).cloned() else {
            return;
        };
        if let Some(schedule) = &flow.schedule {
            let mut attributes = self.contact.view["fields"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            // Parley's own attributes are kept on the contact itself as they change.
            for key in [OPTED_OUT, LAST_REENGAGED_AT] {
                match &self.contact.view[key] {
                    Value::Null => attributes.remove(key),
                    v => attributes.insert(key.into(), v.clone()),
                };
            }
            let tags: Vec<String> = self.contact.view["tags"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let member = Member {
                tags: &tags,
                attributes: &attributes,
                last_inbound_at: self.ctx.window.last_inbound_at,
                state: &self.state,
            };
            if !schedule
                .audience
                .matches(&member, self.ctx.now, schedule.frequency_cap)
            {
                self.output.decide(|| {
                    format!(
                        "scheduled flow `{}` waited; its audience or frequency cap no longer takes this contact, so it does not start",
                        run.flow
                    )
                });
                return;
            }
        }
        self.scheduled(run);
    }
}
