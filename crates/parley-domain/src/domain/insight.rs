//! Flow insights: what happened at each step of each flow, as counters. The engine tallies
//! one event's counts (`Tally`); the store adds them to the counters of the event's hour in
//! the transaction that commits the event, so an event handled again after a crash is never
//! counted twice.
//!
//! Every visit of a step is `entered` once and leaves it at most once, by exactly one of
//! `answered`, `timed_out`, `invalid`, `dropped` or `errored` (a visit that has not left yet
//! is still waiting). Every run of a flow is `started` once and ends at most once, by
//! exactly one `Outcome` but `Started`.

use super::experiment::RunArm;
use chrono::{DateTime, Utc};

/// How a visit of a step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepCount {
    /// The run reached the step.
    Entered,
    /// The step did its work and the run went on: an `ask` or `form` got a valid answer, a
    /// `delay` ran out, an `agent` step ended, any other step completed.
    Answered,
    /// An `ask` or `form` waited longer than its `timeout`.
    TimedOut,
    /// An `ask` got no valid answer within its retries (its `on_invalid`, or the run
    /// ended), or a submitted form did not fit its fields.
    Invalid,
    /// The run left the step while it waited, without finishing: another flow started, the
    /// customer opted out, a person wrote from the WhatsApp Business app, or the flow was
    /// removed.
    Dropped,
    /// The step failed and the run left it (its `on_error` path, or the run ended).
    Errored,
}

/// How a run of a flow went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// A run began in this flow: a trigger, a schedule, or a `goto_flow` from another flow.
    Started,
    /// The run reached an `end` step or the last step.
    Finished,
    /// A `handoff` gave the conversation to a person.
    HandedOff,
    /// A `goto_flow` went on in another flow (where a run is `started`).
    Moved,
    /// An `ask` or `form` timed out with no `on_timeout`.
    TimedOut,
    /// An `ask` or `form` got no valid answer and had no `on_invalid`.
    Invalid,
    /// The run was left while it waited (see `StepCount::Dropped`).
    Dropped,
    /// A step failed with no `on_error`.
    Errored,
}

impl StepCount {
    pub const ALL: [StepCount; 6] = [
        StepCount::Entered,
        StepCount::Answered,
        StepCount::TimedOut,
        StepCount::Invalid,
        StepCount::Dropped,
        StepCount::Errored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepCount::Entered => "entered",
            StepCount::Answered => "answered",
            StepCount::TimedOut => "timed_out",
            StepCount::Invalid => "invalid",
            StepCount::Dropped => "dropped",
            StepCount::Errored => "errored",
        }
    }
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Started,
        Outcome::Finished,
        Outcome::HandedOff,
        Outcome::Moved,
        Outcome::TimedOut,
        Outcome::Invalid,
        Outcome::Dropped,
        Outcome::Errored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Started => "started",
            Outcome::Finished => "finished",
            Outcome::HandedOff => "handed_off",
            Outcome::Moved => "moved",
            Outcome::TimedOut => "timed_out",
            Outcome::Invalid => "invalid",
            Outcome::Dropped => "dropped",
            Outcome::Errored => "errored",
        }
    }
}

/// One counter of one event: `step` is the step's insight key (`Flow::insight_key`), empty
/// for the flow's own outcomes; `what` is a `StepCount` or `Outcome` name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub flow: String,
    pub step: String,
    pub what: &'static str,
    pub n: i64,
}

/// One counter of one event under an experiment's arm (issue 58): the same counts as
/// `Count` (`step` empty for the run's outcomes), plus `started` (the run entered the arm)
/// and `finish_ms` (milliseconds from the run's start to its finish, summed: over
/// `finished` it is the mean time to finish).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmCount {
    pub experiment: String,
    pub arm: String,
    pub step: String,
    pub what: &'static str,
    pub n: i64,
}

/// The counter of an arm's summed milliseconds from the run's start to its finish.
pub const FINISH_MS: &str = "finish_ms";

/// What one event adds to the counters; equal counters are merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub counts: Vec<Count>,
    /// The counts of runs in an experiment's arm, again under (experiment, arm).
    pub arms: Vec<ArmCount>,
    /// Questions an agent's knowledge had no good passage for (issue 59).
    pub unanswered: Vec<UnansweredQuestion>,
    /// Finished agent conversations picked to be scored by a judge (issue 59).
    pub to_score: Vec<ScoreRequest>,
}

/// A customer's question that matched no passage of an agent step's knowledge well enough,
/// counted per flow (masked as the step's guardrails say).
#[derive(Debug, Clone, PartialEq)]
pub struct UnansweredQuestion {
    pub flow: String,
    /// The agent step's insight key.
    pub step: String,
    pub question: String,
    /// The best passage's score (0 when none matched at all).
    pub best_score: f64,
}

impl Eq for UnansweredQuestion {}

/// An agent conversation that finished and was drawn to be scored in the background.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreRequest {
    pub flow: String,
    /// The agent step's insight key.
    pub step: String,
    /// How the run ended: a flow insights' outcome name (`finished`, `handed_off`, …).
    pub outcome: &'static str,
    /// When the run started (Unix milliseconds), so the transcript is this run's.
    pub started_ms: i64,
}

/// The most distinct counters one event may add: far more than a flow does (`MAX_STEPS`
/// visits of a step add to one counter), and a bound on what one commit writes.
pub const MAX_COUNTS_PER_EVENT: usize = 256;

impl Tally {
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
            && self.arms.is_empty()
            && self.unanswered.is_empty()
            && self.to_score.is_empty()
    }

    /// A step's count under the run's arm.
    pub fn arm_step(&mut self, arm: &RunArm, step: &str, what: StepCount) {
        self.add_arm(arm, step, what.as_str(), 1);
    }

    /// A run's outcome under its arm (`Started` is the arm's start: `arm_started`).
    pub fn arm_outcome(&mut self, arm: &RunArm, what: Outcome) {
        self.add_arm(arm, "", what.as_str(), 1);
    }

    /// A run entered `arm`.
    pub fn arm_started(&mut self, arm: &RunArm) {
        self.add_arm(arm, "", Outcome::Started.as_str(), 1);
    }

    /// A run of `arm` finished `ms` milliseconds after it started (negative clamped to 0).
    pub fn arm_finish_ms(&mut self, arm: &RunArm, ms: i64) {
        self.add_arm(arm, "", FINISH_MS, ms.max(0));
    }

    fn add_arm(&mut self, arm: &RunArm, step: &str, what: &'static str, n: i64) {
        if let Some(c) = self.arms.iter_mut().find(|c| {
            c.what == what && c.step == step && c.arm == arm.arm && c.experiment == arm.experiment
        }) {
            c.n = c.n.saturating_add(n);
        } else if self.arms.len() < MAX_COUNTS_PER_EVENT {
            self.arms.push(ArmCount {
                experiment: arm.experiment.clone(),
                arm: arm.arm.clone(),
                step: step.to_string(),
                what,
                n,
            });
        }
    }

    /// The arms' counters in one fixed order (experiment, arm, step, what), for the same
    /// reason as `sorted`.
    pub fn sorted_arms(&self) -> Vec<&ArmCount> {
        let mut v: Vec<&ArmCount> = self.arms.iter().collect();
        v.sort_by(|a, b| {
            (&a.experiment, &a.arm, &a.step, a.what).cmp(&(&b.experiment, &b.arm, &b.step, b.what))
        });
        v
    }

    pub fn step(&mut self, flow: &str, step: &str, what: StepCount) {
        self.add(flow, step, what.as_str());
    }

    pub fn outcome(&mut self, flow: &str, what: Outcome) {
        self.add(flow, "", what.as_str());
    }

    fn add(&mut self, flow: &str, step: &str, what: &'static str) {
        if let Some(c) = self
            .counts
            .iter_mut()
            .find(|c| c.what == what && c.step == step && c.flow == flow)
        {
            c.n += 1;
        } else if self.counts.len() < MAX_COUNTS_PER_EVENT {
            self.counts.push(Count {
                flow: flow.to_string(),
                step: step.to_string(),
                what,
                n: 1,
            });
        }
    }

    /// The counters in one fixed order (flow, step, what): concurrent commits lock counter
    /// rows in the same order, so they never deadlock.
    pub fn sorted(&self) -> Vec<&Count> {
        let mut v: Vec<&Count> = self.counts.iter().collect();
        v.sort_by(|a, b| (&a.flow, &a.step, a.what).cmp(&(&b.flow, &b.step, b.what)));
        v
    }
}

/// The flow an experiment belongs to, and whether it is the flow's versions: a `split`'s
/// experiment is `<flow>/<step id>`, a flow's versions `<flow>@version`.
pub fn experiment_flow(experiment: &str) -> (&str, bool) {
    if let Some(flow) = experiment.strip_suffix(super::experiment::VERSION_EXPERIMENT_SUFFIX) {
        return (flow, true);
    }
    let flow = experiment.rsplit_once('/').map_or(experiment, |(f, _)| f);
    (flow, false)
}

/// The hour an event's counts are kept under: Unix seconds at the start of its UTC hour.
pub fn hour_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(3600) * 3600
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_counters_merge_and_sort_in_one_order() {
        let mut t = Tally::default();
        t.step("b", "step 1", StepCount::Entered);
        t.outcome("a", Outcome::Started);
        t.step("b", "step 1", StepCount::Entered);
        assert_eq!(t.counts.len(), 2);
        let sorted = t.sorted();
        assert_eq!((sorted[0].flow.as_str(), sorted[0].n), ("a", 1));
        assert_eq!((sorted[1].what, sorted[1].n), ("entered", 2));
    }

    #[test]
    fn arm_counters_merge_sum_and_sort() {
        let a = RunArm {
            experiment: "welcome/opening".into(),
            arm: "b".into(),
        };
        let first = RunArm {
            arm: "a".into(),
            ..a.clone()
        };
        let mut t = Tally::default();
        assert!(t.is_empty());
        t.arm_step(&a, "ask", StepCount::Entered);
        t.arm_step(&a, "ask", StepCount::Entered);
        t.arm_finish_ms(&a, 1500);
        t.arm_finish_ms(&a, 500);
        t.arm_finish_ms(&a, -7);
        t.arm_started(&first);
        assert!(!t.is_empty() && t.counts.is_empty());
        let sorted = t.sorted_arms();
        assert_eq!(sorted.len(), 3);
        assert_eq!((sorted[0].arm.as_str(), sorted[0].what), ("a", "started"));
        assert_eq!((sorted[1].what, sorted[1].n), (FINISH_MS, 2000));
        assert_eq!((sorted[2].step.as_str(), sorted[2].n), ("ask", 2));
    }

    #[test]
    fn an_experiments_flow() {
        assert_eq!(experiment_flow("welcome/opening"), ("welcome", false));
        assert_eq!(experiment_flow("welcome@version"), ("welcome", true));
        assert_eq!(experiment_flow("odd"), ("odd", false));
    }

    #[test]
    fn a_tally_is_bounded() {
        let mut t = Tally::default();
        for i in 0..MAX_COUNTS_PER_EVENT + 10 {
            t.step("f", &i.to_string(), StepCount::Entered);
        }
        assert_eq!(t.counts.len(), MAX_COUNTS_PER_EVENT);
    }

    #[test]
    fn hours_start_on_the_hour_before_1970_too() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T18:59:59Z").unwrap();
        assert_eq!(
            hour_of(at.with_timezone(&Utc)),
            DateTime::parse_from_rfc3339("2026-11-23T18:00:00Z")
                .unwrap()
                .timestamp()
        );
        let before = DateTime::parse_from_rfc3339("1969-12-31T23:30:00Z").unwrap();
        assert_eq!(hour_of(before.with_timezone(&Utc)), -3600);
    }
}
