//! The judge (issue 59): each rubric criterion of a scenario judged over a run's transcript
//! by the scenario's judge model. The shape below is what `checks` and `report` read.

/// The judge's word on one criterion.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub criterion: String,
    pub pass: bool,
    /// The judge's reason, in its words (or why no verdict could be read).
    pub reason: String,
}
