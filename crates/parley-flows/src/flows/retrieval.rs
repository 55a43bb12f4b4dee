//! An `agent` step's `retrieval:` (issue 59): how passages are found for a turn (BM25, or
//! BM25 with embeddings from a configured model) and when a question counts as one the
//! knowledge could not answer.

use super::problem::Problems;
use marked_yaml::types::MarkedMappingNode;

/// `retrieval:` of an agent step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Retrieval {
    /// A model of the config's `models:` that makes embeddings; `None`: BM25 only.
    pub embeddings: Option<String>,
}

/// `retrieval:` of an agent step's settings `m`; `None` when it is wrong (reported).
pub fn compile(m: &MarkedMappingNode, problems: &mut Problems) -> Option<Retrieval> {
    let _ = (m, problems);
    Some(Retrieval::default())
}
