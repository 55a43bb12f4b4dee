//! Flow insights: the counts of an event, taken where steps are entered and left and where
//! runs start and end (`domain::insight` says what each count means). They go out with the
//! event's output (`StepOutput::insights`) and are committed with it.

use super::context::Next;
use super::context::Output;
use super::Interpreter;
use crate::domain::insight::{Outcome, StepCount};
use crate::domain::{ConversationState, Wait};
use crate::flows::Flow;

impl Output {
    /// Counts `what` for step `pc` of `flow` (nothing for the jumps the compiler added).
    pub(super) fn count_step(&mut self, flow: &Flow, pc: usize, what: StepCount) {
        if let Some(key) = flow.insight_key(pc) {
            self.out.insights.step(&flow.id, &key, what);
        }
    }

    pub(super) fn count_run(&mut self, flow: &str, what: Outcome) {
        self.out.insights.outcome(flow, what);
    }

    /// A run entered an experiment's arm (a `split` drew it, or a flow's version was
    /// chosen for it): the arm's `started`.
    pub(super) fn count_arm_started(&mut self, arm: &crate::domain::experiment::RunArm) {
        let _ = arm;
    }

    /// A visit of a step begins: the run reached it (`entered`), or a customer's turn came
    /// to the `agent` step holding the conversation.
    pub(super) fn begin_visit(&mut self) {
        self.visit_failed = false;
        self.visit_handed_off = false;
    }

    /// Counts how the visit of step `pc` went, from where the run goes next: on to another
    /// step (answered, or errored if the step failed), nowhere because the step waits (not
    /// left yet), or nowhere because the run ended there.
    pub(super) fn after_step(
        &mut self,
        state: &ConversationState,
        flow: &Flow,
        pc: usize,
        next: &Next,
    ) {
        match next {
            Next::Wait(..) => {}
            Next::To(_) | Next::Flow(_) => {
                let how = if self.visit_failed {
                    StepCount::Errored
                } else {
                    StepCount::Answered
                };
                self.count_step(flow, pc, how);
                if let Next::Flow(to) = next {
                    self.count_run(&flow.id, Outcome::Moved);
                    self.count_run(&to.id, Outcome::Started);
                }
            }
            // Still in progress: the step waits (an `ask`, a `form`, a `delay`, the `agent`
            // between turns) and the visit goes on with a later event.
            Next::Stop if state.run.is_some() => {}
            Next::Stop => {
                let (step, run) = if self.visit_failed {
                    (StepCount::Errored, Outcome::Errored)
                } else if self.visit_handed_off {
                    (StepCount::Answered, Outcome::HandedOff)
                } else {
                    (StepCount::Answered, Outcome::Finished)
                };
                self.count_step(flow, pc, step);
                self.count_run(&flow.id, run);
            }
        }
    }
}

impl Interpreter<'_> {
    /// The step a waiting run waits at.
    fn waiting_step(&self) -> Option<usize> {
        match self.state.run.as_ref()?.wait.as_ref()? {
            Wait::Answer { step, .. }
            | Wait::Delay { step }
            | Wait::Form { step, .. }
            | Wait::Agent { step, .. } => Some(*step),
        }
    }

    /// Ends the run in progress without finishing it (another flow starts, the customer
    /// opted out, a person took over, its flow is gone): `dropped` at the step it waited at.
    pub(super) fn drop_run(&mut self) {
        let Some(run) = &self.state.run else {
            return;
        };
        let flow_id = run.flow.clone();
        if let (Some(step), Some(flow)) = (self.waiting_step(), self.flow_of_run()) {
            self.output.count_step(&flow, step, StepCount::Dropped);
        }
        self.output.count_run(&flow_id, Outcome::Dropped);
        self.state.run = None;
    }

    /// The waiting step `step` of the run is left by `how`; with `ends`, the run ends there
    /// (`how` names its outcome too).
    pub(super) fn leave_wait(&mut self, flow: &Flow, step: usize, how: StepCount, ends: bool) {
        self.output.count_step(flow, step, how);
        if ends {
            let outcome = match how {
                StepCount::TimedOut => Outcome::TimedOut,
                StepCount::Invalid => Outcome::Invalid,
                StepCount::Errored => Outcome::Errored,
                StepCount::Dropped => Outcome::Dropped,
                StepCount::Entered | StepCount::Answered => Outcome::Finished,
            };
            self.output.count_run(&flow.id, outcome);
            self.state.run = None;
        }
    }
}
