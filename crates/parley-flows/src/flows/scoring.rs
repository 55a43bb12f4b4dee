//! An `agent` step's `rubric:` and `score:` (issue 59): what a judge model checks in the
//! step's conversations, and which share of the finished ones is scored in the background.
//! The rubric is also what `parley eval` judges a scenario by when its file gives none.

use super::problem::Problems;
use marked_yaml::types::MarkedMappingNode;

/// `score:` of an agent step: a share of its finished conversations judged in the background.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreSpec {
    /// A model of the config's `models:`.
    pub judge: String,
    /// Percent of finished conversations scored (0–100).
    pub share: u32,
}

/// `rubric:` (criteria, in plain words) and `score:` of an agent step's settings `m`.
/// `None` when one of them is wrong (the problem is reported).
pub fn compile(
    m: &MarkedMappingNode,
    problems: &mut Problems,
) -> Option<(Vec<String>, Option<ScoreSpec>)> {
    let _ = (m, problems);
    Some((Vec::new(), None))
}
