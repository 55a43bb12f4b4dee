//! Flow insights: the counts of an event, taken where steps are entered and left and where
//! runs start and end (`domain::insight` says what each count means). They go out with the
//! event's output (`StepOutput::insights`) and are committed with it. An `agent` step with
//! `score:` that a run leaves is drawn there to be scored by a judge in the background
//! (`draw_score`): a `ScoreRequest` committed with the counts.

use super::context::Next;
use super::context::Output;
use super::Interpreter;
use crate::domain::experiment::RunArm;
use crate::domain::insight::{Outcome, ScoreRequest, StepCount};
use crate::domain::{ConversationState, Wait};
use crate::flows::{Flow, Op};
use chrono::{DateTime, Utc};

impl Output {
    /// Follows the run in progress (its arm, its start, the time): called as each step
    /// begins and before a waiting run is left. With no run, the last one's arm is kept.
    pub(super) fn track_arm(&mut self, state: &ConversationState, now: DateTime<Utc>) {
        self.arm.now = now;
        if let Some(run) = &state.run {
            self.arm.arm = run.arm.clone();
            self.arm.since = Some(run.started_at);
        }
    }

    /// Counts `what` for step `pc` of `flow` (nothing for the jumps the compiler added).
    pub(super) fn count_step(&mut self, flow: &Flow, pc: usize, what: StepCount) {
        if let Some(key) = flow.insight_key(pc) {
            self.draw_score(flow, pc, &key, what);
            self.out.insights.step(&flow.id, &key, what);
            if let Some(arm) = self.arm.arm_for(&flow.id) {
                self.out.insights.arm_step(arm, &key, what);
            }
        }
    }

    /// A customer's question an agent step's knowledge had no good passage for (issue 59),
    /// committed with the event's counts.
    pub(super) fn count_unanswered(
        &mut self,
        question: crate::domain::insight::UnansweredQuestion,
    ) {
        self.out.insights.unanswered.push(question);
    }

    pub(super) fn count_run(&mut self, flow: &str, what: Outcome) {
        self.out.insights.outcome(flow, what);
        // The run ended in the event its agent conversation ended in: the conversation is
        // scored under the run's outcome (`handed_off` rather than the step's `finished`).
        if what != Outcome::Started && what != Outcome::Moved {
            for request in &mut self.out.insights.to_score {
                if request.flow == flow {
                    request.outcome = what.as_str();
                }
            }
        }
        // A run's `started` in an arm is the arm's start (`count_arm_started`).
        if what == Outcome::Started {
            return;
        }
        if let Some(arm) = self.arm.arm_for(flow) {
            self.out.insights.arm_outcome(arm, what);
            if what == Outcome::Finished {
                let ms = self
                    .arm
                    .since
                    .map_or(0, |s| (self.arm.now - s).num_milliseconds());
                self.out.insights.arm_finish_ms(arm, ms);
            }
        }
    }

    /// The run leaves the `agent` step `pc` of `flow` by `how`: when the step has `score:`
    /// and the conversation is drawn (its bucket for the flow below the step's `share`),
    /// a `ScoreRequest` for the conversation since the run began.
    fn draw_score(&mut self, flow: &Flow, pc: usize, key: &str, how: StepCount) {
        let Some(Op::Agent(spec)) = flow.steps.get(pc).map(|s| &s.op) else {
            return;
        };
        let (Some(score), outcome) = (&spec.score, leave_outcome(how)) else {
            return;
        };
        let Some(outcome) = outcome else {
            return;
        };
        if !drawn(self.conversation_id, &flow.id, score.share) {
            return;
        }
        let started_ms = self.arm.since.unwrap_or(self.arm.now).timestamp_millis();
        self.out.insights.to_score.push(ScoreRequest {
            flow: flow.id.clone(),
            step: key.to_string(),
            outcome: outcome.as_str(),
            started_ms,
        });
    }

    /// A run entered an experiment's arm (a `split` drew it, or a flow's version was
    /// chosen for it): the arm's `started`; the run's later counts go to the arm too.
    pub(super) fn count_arm_started(&mut self, arm: &RunArm) {
        self.out.insights.arm_started(arm);
        self.arm.arm = Some(arm.clone());
        if self.arm.since.is_none() {
            self.arm.since = Some(self.arm.now);
        }
        // The step that chose the arm (a `split`) was entered before the arm was known:
        // it is the arm's first step, entered now (and left by `after_step`).
        if let Some((flow, pc)) = self.at.clone() {
            if let (Some(arm), Some(key)) = (self.arm.arm_for(&flow.id), flow.insight_key(pc)) {
                self.out.insights.arm_step(arm, &key, StepCount::Entered);
            }
        }
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
        self.output.track_arm(&self.state, self.ctx.now);
        if let (Some(step), Some(flow)) = (self.waiting_step(), self.flow_of_run()) {
            self.output.count_step(&flow, step, StepCount::Dropped);
        }
        self.output.count_run(&flow_id, Outcome::Dropped);
        self.state.run = None;
        self.output.arm.arm = None;
    }

    /// The waiting step `step` of the run is left by `how`; with `ends`, the run ends there
    /// (`how` names its outcome too).
    pub(super) fn leave_wait(&mut self, flow: &Flow, step: usize, how: StepCount, ends: bool) {
        self.output.track_arm(&self.state, self.ctx.now);
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
            self.output.arm.arm = None;
        }
    }
}

/// How a run that leaves an agent step by `how` ended, as far as the step knows (`None`:
/// not a leaving).
fn leave_outcome(how: StepCount) -> Option<Outcome> {
    Some(match how {
        StepCount::Entered => return None,
        StepCount::Answered => Outcome::Finished,
        StepCount::TimedOut => Outcome::TimedOut,
        StepCount::Invalid => Outcome::Invalid,
        StepCount::Dropped => Outcome::Dropped,
        StepCount::Errored => Outcome::Errored,
    })
}

/// Whether conversation `conversation_id`'s agent conversations in `flow` are scored at
/// `share` percent: the experiments' stable hash (`bucket`, 0–9999), the same in every
/// process and after a restart.
fn drawn(conversation_id: i64, flow: &str, share: u32) -> bool {
    let b = crate::domain::experiment::bucket(&format!("conversation:{conversation_id}"), flow);
    b < share.min(100) * 100
}
