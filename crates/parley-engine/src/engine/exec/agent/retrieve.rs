//! The passages of an agent step's turn (issue 59): BM25 over the step's knowledge, with
//! embeddings when the step's `retrieval:` names a model; a question no passage matched
//! well enough is counted as one the agent could not answer.

use super::super::Interpreter;
use crate::flows::{AgentSpec, Flow};
use std::sync::Arc;

/// A turn's passages.
#[derive(Debug, Default)]
pub(super) struct Retrieved {
    /// As the prompt and the trace show them: `file (line n): text`.
    pub(super) shown: Vec<String>,
    /// Where each comes from (a file as the flow names it, a page's address).
    pub(super) sources: Vec<String>,
}

impl Interpreter<'_> {
    /// The passages of `spec`'s knowledge for `query`.
    pub(super) fn retrieve(&mut self, flow: &Arc<Flow>, spec: &AgentSpec, query: &str) -> Retrieved {
        let _ = flow;
        let Some(k) = spec.knowledge.as_ref() else {
            return Retrieved::default();
        };
        let found = k.search(query, spec.passages);
        Retrieved {
            shown: found
                .iter()
                .map(|p| format!("{} (line {}): {}", p.file, p.line, p.text))
                .collect(),
            sources: found.iter().map(|p| p.file.clone()).collect(),
        }
    }
}
