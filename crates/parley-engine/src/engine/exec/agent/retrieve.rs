//! The passages of an agent step's turn (issue 59): BM25 over the step's knowledge, mixed
//! with the similarity of embeddings when the step's `retrieval:` names a model and its
//! answer came (`embed`); a question no passage matched well enough is counted as one the
//! agent could not answer.

use super::super::context::Similarity;
use super::super::Interpreter;
use crate::domain::insight::UnansweredQuestion;
use crate::engine::guard;
use crate::flows::knowledge::Passage;
use crate::flows::retrieval::{combined, content_words};
use crate::flows::{AgentSpec, Flow};
use std::sync::Arc;

/// The longest question kept in the list of those the knowledge could not answer.
pub const UNANSWERED_TEXT_MAX: usize = 500;

/// A turn's passages.
#[derive(Debug, Default)]
pub(super) struct Retrieved {
    /// As the prompt and the trace show them: `file (line n): text`.
    pub(super) shown: Vec<String>,
    /// Where each comes from (a file as the flow names it, a page's address).
    pub(super) sources: Vec<String>,
}

impl Interpreter<'_> {
    /// The passages of `spec`'s knowledge for `query`, the turn of step `pc`. On the turn's
    /// first call, a question whose best passage scores below the step's `unanswered_below`
    /// is counted as one the knowledge could not answer (masked as the step's guardrails
    /// say); the calls that follow (after a tool, a refused answer) find the same passages
    /// and count nothing more.
    pub(super) fn retrieve(
        &mut self,
        flow: &Arc<Flow>,
        spec: &AgentSpec,
        pc: usize,
        query: &str,
    ) -> Retrieved {
        let Some(k) = spec.knowledge.as_ref() else {
            return Retrieved::default();
        };
        // The words that carry the question: "do you sell gift cards" is not found by a
        // passage's "you", and a greeting or a thanks asks nothing.
        let words = content_words(query);
        let cosines = match self.ctl.round.as_ref().map(|r| &r.similarity) {
            Some(Similarity::Cosines(c)) => Some(c),
            _ => None,
        };
        let (found, below): (Vec<(&Passage, f64)>, f64) =
            match (cosines, &spec.retrieval.embeddings) {
                (Some(cosines), Some(e)) => (
                    combined(k, &words, cosines, e.weight, spec.passages)
                        .into_iter()
                        .filter_map(|(i, s)| Some((k.passages.get(i)?, s)))
                        .collect(),
                    spec.retrieval.unanswered_below,
                ),
                _ => (
                    k.search_scored(&words, spec.passages),
                    spec.retrieval.bm25_unanswered_below(),
                ),
            };
        let best = found.first().map_or(0.0, |(_, s)| *s);
        let first_call = self.ctl.round.as_ref().is_some_and(|r| r.calls == 0);
        let asks = !words.is_empty() && is_question_text(query);
        if first_call && asks && best < below {
            self.count_unanswered(flow, spec, pc, query, best);
        }
        Retrieved {
            shown: found.iter().map(|(p, _)| p.shown()).collect(),
            sources: found
                .iter()
                .map(|(p, _)| p.link.clone().unwrap_or_else(|| p.file.clone()))
                .collect(),
        }
    }

    fn count_unanswered(&mut self, flow: &Flow, spec: &AgentSpec, pc: usize, q: &str, best: f64) {
        let Some(step) = flow.insight_key(pc) else {
            return;
        };
        let text = if spec.guardrails.mask_personal_data {
            guard::mask_personal_data(q)
        } else {
            q.to_string()
        };
        let question: String = text.trim().chars().take(UNANSWERED_TEXT_MAX).collect();
        self.output.count_unanswered(UnansweredQuestion {
            flow: flow.id.clone(),
            step,
            question,
            best_score: best,
        });
    }
}

/// Whether a turn's text is the customer's words: not the stand-in for a picture or a
/// location (`[the customer sent a …]`), which no passage answers.
fn is_question_text(text: &str) -> bool {
    let t = text.trim();
    let stand_in = t.starts_with("[the customer sent a") && t.ends_with(']');
    !t.is_empty() && !stand_in
}
