//! An `agent` step's question by embeddings (`retrieval: { embeddings: NAME }`, issue 59):
//! before a turn's first call the step asks, as an `Effect::Embed`, how near the question
//! is to each of its passages. The caller (`FlowEngine`) embeds the question, compares it
//! with the passages' vectors (computed once per process) and records the nearest before
//! the step sees them, so a step run again after a crash finds the same passages. When the
//! embedding model fails, is too slow or is not there (flow tests), the turn finds its
//! passages with BM25 alone, and the trace says so.

use super::super::context::{Next, Similarity};
use super::super::{Answer, Await, Effect, Interpreter};
use crate::flows::knowledge::Knowledge;
use crate::flows::retrieval::content_words;
use crate::flows::{AgentSpec, Flow};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// Passages an answer names at most (the nearest first): the embeddings' candidates, mixed
/// with BM25's; the others count a similarity of 0. Bounds what is recorded per turn.
pub const NEAREST_MAX: usize = 50;

/// The embeddings an `agent` step waits for, with what the caller needs to record them.
#[derive(Debug, Clone)]
pub struct EmbedCall {
    /// The embedding model of the config's `models:`.
    pub model: String,
    /// The customer's question.
    pub text: String,
    /// The passages it is compared with.
    pub knowledge: Arc<Knowledge>,
    pub conversation_id: i64,
    pub event_id: i64,
    /// The call's place among this event's calls (model calls included).
    pub seq: i64,
    pub flow: String,
    /// The step as its author finds it: `step 3 (line 12)`.
    pub step: String,
    /// The longest the step waits (its `timeout`).
    pub timeout: Duration,
    /// Mask personal data in what is recorded of the question.
    pub mask: bool,
    pub now: DateTime<Utc>,
}

/// The passages nearest a question, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Nearest {
    /// `(passage index, cosine similarity)`, nearest first, at most [`NEAREST_MAX`].
    pub passages: Vec<(usize, f64)>,
    pub latency_ms: u64,
    /// Read from the record of an earlier try of this event: no new call was made.
    pub replayed: bool,
    /// Passages whose vectors were computed while this call waited (0 once known).
    pub embedded: usize,
}

impl Interpreter<'_> {
    /// Before the turn's first call, when the step has embeddings: the wait for the
    /// question's nearest passages. `None`: go on (asked already, or nothing to ask: no
    /// passages, or a greeting that asks nothing).
    pub(super) fn embed_question(
        &mut self,
        flow: &Arc<Flow>,
        spec: &AgentSpec,
        pc: usize,
        query: &str,
    ) -> Option<Next> {
        let e = spec.retrieval.embeddings.as_ref()?;
        let knowledge = spec.knowledge.as_ref()?;
        let round = self.ctl.round.as_mut()?;
        if round.similarity != Similarity::NotAsked {
            return None;
        }
        if knowledge.passages.is_empty() || content_words(query).is_empty() {
            round.similarity = Similarity::Bm25;
            return None;
        }
        round.similarity = Similarity::Asked;
        let seq = self.ctl.model_calls;
        self.ctl.model_calls += 1;
        Some(Next::Wait(
            Effect::Embed(Box::new(EmbedCall {
                model: e.model.clone(),
                text: query.to_string(),
                knowledge: knowledge.clone(),
                conversation_id: self.ctx.conversation_id,
                event_id: self.ctx.event_id,
                seq,
                flow: flow.id.clone(),
                step: flow.place(pc),
                timeout: spec.timeout,
                mask: spec.guardrails.mask_personal_data,
                now: self.ctx.now,
            })),
            Await::Embed,
        ))
    }

    /// The `agent` step's effect answered: the model's answer, or the question's nearest
    /// passages.
    pub(in super::super) fn agent_resumed(
        &mut self,
        flow: &Arc<Flow>,
        spec: &AgentSpec,
        pc: usize,
        at: Await,
        answer: Answer,
    ) -> Next {
        match (at, answer) {
            (Await::Agent, Answer::Model(r)) => self.agent_answered(flow, spec, pc, r),
            (Await::Embed, Answer::Embed(r)) => self.agent_embedded(flow, spec, pc, r),
            _ => self.output.fail_step(
                &mut self.state,
                self.ctx.now,
                flow,
                pc,
                "the step was resumed with the answer of another step".into(),
            ),
        }
    }

    /// The question's nearest passages came back (or did not): the turn's call goes on,
    /// its passages found with them, or with BM25 alone.
    fn agent_embedded(
        &mut self,
        flow: &Arc<Flow>,
        spec: &AgentSpec,
        pc: usize,
        answer: Result<Nearest, String>,
    ) -> Next {
        let count = spec.knowledge.as_ref().map_or(0, |k| k.passages.len());
        let model = spec
            .retrieval
            .embeddings
            .as_ref()
            .map(|e| e.model.as_str())
            .unwrap_or_default();
        let similarity = match answer {
            Ok(nearest) => {
                let mut cosines = vec![0.0; count];
                for (i, c) in nearest.passages.iter().take(NEAREST_MAX) {
                    if let Some(slot) = cosines.get_mut(*i).filter(|_| c.is_finite()) {
                        *slot = *c;
                    }
                }
                self.output.decide(|| {
                    let how = if nearest.replayed {
                        "as recorded".to_string()
                    } else if nearest.embedded > 0 {
                        format!(
                            "in {} ms, {} passages embedded first",
                            nearest.latency_ms, nearest.embedded
                        )
                    } else {
                        format!("in {} ms", nearest.latency_ms)
                    };
                    format!("embeddings (`{model}`): the question's nearest passages, {how}")
                });
                Similarity::Cosines(cosines)
            }
            Err(why) => {
                self.output.decide(|| {
                    format!("embeddings (`{model}`) failed: {why}; this turn's passages are found with BM25 alone")
                });
                Similarity::Bm25
            }
        };
        if let Some(round) = &mut self.ctl.round {
            round.similarity = similarity;
        }
        self.agent_call(flow, spec, pc)
    }
}
