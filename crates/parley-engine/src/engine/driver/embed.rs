//! An `agent` step's question by embeddings: the nearest passages recorded for the event and
//! call when there are (the event is handled again after a crash), else the question
//! embedded, compared with the passages' vectors (`passages`, computed once per process)
//! and the nearest recorded before the step sees them. Within the step's `timeout` and the
//! model's; a failure is recorded too, so a retry of the event finds passages as this try
//! did (with BM25 alone).

use super::model::ledger;
use super::passages::Vectors;
use super::FlowEngine;
use crate::engine::guard;
use crate::engine::{EmbedCall, Nearest};
use crate::models::embeddings::cosine;
use serde_json::{json, Value};

/// The passages of `vectors` nearest `question`, nearest first, at most `NEAREST_MAX`.
fn nearest(question: &[f32], vectors: &Vectors) -> Vec<(usize, f64)> {
    let mut all: Vec<(usize, f64)> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (i, cosine(question, v)))
        .filter(|(_, c)| *c > 0.0)
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(crate::engine::NEAREST_MAX);
    all
}

impl FlowEngine {
    /// The passages nearest an `agent` step's question; see the module's documentation.
    pub(super) async fn embed(&self, call: EmbedCall) -> Result<Nearest, String> {
        use crate::store::{ExchangeKind, ModelExchange};
        if let Some(store) = &self.exchanges {
            match store.model_exchange(call.event_id, call.seq).await {
                Ok(Some(recorded)) => return replay(recorded),
                Ok(None) => {}
                Err(e) => return Err(format!("could not read the record of model calls: {e}")),
            }
        }
        let Some(embedder) = self.models.embedder(&call.model).cloned() else {
            // Not recorded: nothing was called (flow tests run without embedding models).
            return Err(format!(
                "there is no embedding model `{}` in this process (flow tests find passages with BM25 alone)",
                call.model
            ));
        };
        let timeout = call.timeout.min(embedder.timeout());
        let started = std::time::Instant::now();
        let work = async {
            let question = vec![call.text.clone()];
            let (passages, asked) = tokio::join!(
                self.passage_vectors
                    .vectors(&call.model, &embedder, &call.knowledge),
                embedder.embed_counted(&question)
            );
            let asked = asked.map_err(|e| e.to_string())?;
            let passages = passages?;
            let q = asked
                .vectors
                .first()
                .ok_or("the embedding model answered no vector")?;
            if passages.vectors.first().is_some_and(|p| p.len() != q.len()) {
                return Err(format!(
                    "the embedding model answered the question a vector of {} numbers and the passages vectors of {}",
                    q.len(),
                    passages.vectors[0].len()
                ));
            }
            Ok((
                nearest(q, &passages.vectors),
                passages.embedded,
                asked.input_tokens,
            ))
        };
        let result = match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "the embedding model did not answer within {}",
                humantime::format_duration(timeout)
            )),
        };
        let latency = started.elapsed();
        let tokens = result.as_ref().map_or(0, |r| r.2);
        let cost = embedder.cost_micros(tokens);
        let outcome = if result.is_ok() { "answered" } else { "failed" };
        metrics::histogram!(crate::metrics::MODEL_LATENCY, "model" => call.model.clone())
            .record(latency.as_secs_f64());
        metrics::counter!(crate::metrics::MODEL_CALLS, "model" => call.model.clone(), "flow" => call.flow.clone(), "outcome" => outcome).increment(1);
        metrics::counter!(crate::metrics::MODEL_TOKENS, "model" => call.model.clone(), "flow" => call.flow.clone(), "direction" => "input").increment(tokens);
        metrics::counter!(crate::metrics::MODEL_COST, "model" => call.model.clone(), "flow" => call.flow.clone()).increment(cost);
        if let Err(e) = &result {
            tracing::warn!(model = %call.model, flow = %call.flow, error = %e, "embeddings failed; the turn finds passages with BM25 alone");
        }
        let mut reply = result.map(|(passages, embedded, _)| Nearest {
            passages,
            latency_ms: latency.as_millis() as u64,
            replayed: false,
            embedded,
        });
        if let Some(store) = &self.exchanges {
            let mut text = Value::String(call.text.clone());
            if call.mask {
                guard::mask_json(&mut text);
            }
            let row = ModelExchange {
                conversation_id: call.conversation_id,
                event_id: call.event_id,
                seq: call.seq,
                kind: ExchangeKind::Chat,
                flow: call.flow.clone(),
                step: call.step.clone(),
                model: call.model.clone(),
                request: json!({ "embeddings": { "input": text, "passages": call.knowledge.passages.len() } }),
                answer: reply
                    .as_ref()
                    .ok()
                    .map(|n| json!({ "nearest": n.passages })),
                error: reply.as_ref().err().cloned(),
                input_tokens: ledger(tokens),
                output_tokens: 0,
                cost_micros: ledger(cost),
                latency_ms: latency.as_millis() as i64,
                created_at: call.now,
            };
            match store.record_model_exchange(&row).await {
                Ok(None) => {}
                // Another try of this event recorded first: its answer is the one used.
                Ok(Some(earlier)) => reply = replay(earlier),
                Err(e) => {
                    tracing::warn!(error = %e, conversation_id = call.conversation_id, "could not record an embeddings answer")
                }
            }
        }
        reply
    }
}

/// A recorded answer as the step's: the nearest passages (bounded and finite), or the
/// failure recorded.
fn replay(x: crate::store::ModelExchange) -> Result<Nearest, String> {
    let read = |answer: &Value| -> Option<Vec<(usize, f64)>> {
        let list = answer.get("nearest")?.as_array()?;
        list.iter()
            .take(crate::engine::NEAREST_MAX)
            .map(|pair| {
                let i = usize::try_from(pair.get(0)?.as_u64()?).ok()?;
                let c = pair.get(1)?.as_f64().filter(|c| c.is_finite())?;
                Some((i, c))
            })
            .collect()
    };
    match (x.answer, x.error) {
        (Some(answer), _) => read(&answer)
            .map(|passages| Nearest {
                passages,
                latency_ms: 0,
                replayed: true,
                embedded: 0,
            })
            .ok_or_else(|| "the recorded embeddings answer cannot be read".to_string()),
        (None, Some(error)) => Err(error),
        (None, None) => Err("the recorded embeddings call has no answer".into()),
    }
}
