//! The experiment arm of the run being counted (issue 58), a leaf both the output
//! (`context::Output::arm`) and the insights counting (`insight`) use.

use crate::domain::experiment::RunArm;
use crate::domain::insight::experiment_flow;
use crate::domain::ConversationState;
use chrono::{DateTime, Utc};

/// The experiment arm of the run being counted (issue 58): every count of the run in the
/// experiment's own flow is counted again under the arm. Taken from the conversation's
/// state when the event begins and at each step (`track_arm`), and from `count_arm_started`
/// when a run enters an arm; kept after a step ends the run, so the step's and the run's
/// last counts still go to the arm.
#[derive(Debug, Clone)]
pub(super) struct ArmTrack {
    pub(super) arm: Option<RunArm>,
    /// When the run started: the time to finish is counted from it.
    pub(super) since: Option<DateTime<Utc>>,
    /// The time of the event (of its last step).
    pub(super) now: DateTime<Utc>,
}

impl ArmTrack {
    pub(super) fn of(state: &ConversationState, now: DateTime<Utc>) -> Self {
        ArmTrack {
            arm: state.run.as_ref().and_then(|r| r.arm.clone()),
            since: state.run.as_ref().map(|r| r.started_at),
            now,
        }
    }

    /// The arm, when the counts of `flow` belong to it: a `split`'s experiment is named
    /// `<flow>/<step id>`, a versions experiment `<flow>@version`; another flow's counts
    /// (after a `goto_flow`) are not the experiment's.
    pub(super) fn arm_for(&self, flow: &str) -> Option<&RunArm> {
        let arm = self.arm.as_ref()?;
        (experiment_flow(&arm.experiment).0 == flow).then_some(arm)
    }
}
