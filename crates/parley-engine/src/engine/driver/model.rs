//! An `agent` step's model call: the answer recorded for the event and call when there is
//! one (the event is handled again after a crash), else a call whose answer is recorded
//! before the step sees it. Only the store's `Exchanges` is reached.

use super::FlowEngine;
use crate::domain::chat::MAX_COST_MICROS_PER_CALL;
use crate::engine::guard;
use crate::engine::{ModelCall, ModelReply};

impl FlowEngine {
    /// An `agent` step's model call: the answer recorded for this event and call if there
    /// is one (the event is handled again after a crash), else a call whose answer is
    /// recorded before the step sees it. Failures are recorded too: the ledger counts them
    /// and a retry of the event does not call again.
    pub(super) async fn call_model(&self, call: ModelCall) -> Result<ModelReply, String> {
        use crate::store::{ExchangeKind, ModelExchange};
        let flow = call.flow.clone();
        if let Some(store) = &self.exchanges {
            match store.model_exchange(call.event_id, call.seq).await {
                Ok(Some(recorded)) => {
                    metrics::counter!(crate::metrics::MODEL_CALLS, "model" => call.model.clone(), "flow" => flow, "outcome" => "replayed").increment(1);
                    return replay(recorded);
                }
                Ok(None) => {}
                Err(e) => return Err(format!("could not read the record of model calls: {e}")),
            }
        }
        let Some(model) = self.models.get(&call.model) else {
            return Err(format!(
                "there is no model `{}` in the config's `models:`",
                call.model
            ));
        };
        let timeout = call.timeout.min(model.timeout);
        let started = std::time::Instant::now();
        let complete = crate::models::within(timeout, model.client.complete(&call.request));
        let result = match tokio::time::timeout(timeout, complete).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "the model did not answer within {}",
                humantime::format_duration(timeout)
            )),
        };
        let latency = started.elapsed();
        metrics::histogram!(crate::metrics::MODEL_LATENCY, "model" => call.model.clone())
            .record(latency.as_secs_f64());
        let mut result = result;
        // Whatever a provider reports, one call counts at most the ledger's caps, and the
        // same capped figures go to the metrics, the record, the trace and the budget.
        let (usage, cost) = match &mut result {
            Ok(a) => {
                a.usage = a.usage.capped();
                (a.usage, capped_cost(&model.prices, a.usage))
            }
            Err(_) => (Default::default(), 0),
        };
        let outcome = if result.is_ok() { "answered" } else { "failed" };
        metrics::counter!(crate::metrics::MODEL_CALLS, "model" => call.model.clone(), "flow" => flow.clone(), "outcome" => outcome).increment(1);
        metrics::counter!(crate::metrics::MODEL_TOKENS, "model" => call.model.clone(), "flow" => flow.clone(), "direction" => "input").increment(usage.input_tokens);
        metrics::counter!(crate::metrics::MODEL_TOKENS, "model" => call.model.clone(), "flow" => flow.clone(), "direction" => "output").increment(usage.output_tokens);
        metrics::counter!(crate::metrics::MODEL_COST, "model" => call.model.clone(), "flow" => flow).increment(cost);
        let mut reply = result.map(|answer| ModelReply {
            answer,
            cost_micros: cost,
            latency_ms: latency.as_millis() as u64,
            replayed: false,
        });
        if let Some(store) = &self.exchanges {
            let mut request = serde_json::to_value(&call.request).unwrap_or_default();
            if call.mask {
                guard::mask_json(&mut request);
            }
            let row = ModelExchange {
                conversation_id: call.conversation_id,
                event_id: call.event_id,
                seq: call.seq,
                kind: ExchangeKind::Chat,
                flow: call.flow.clone(),
                step: call.step.clone(),
                model: call.model.clone(),
                request,
                answer: reply
                    .as_ref()
                    .ok()
                    .and_then(|r| serde_json::to_value(&r.answer).ok()),
                error: reply.as_ref().err().cloned(),
                input_tokens: ledger(usage.input_tokens),
                output_tokens: ledger(usage.output_tokens),
                cost_micros: ledger(cost),
                latency_ms: latency.as_millis() as i64,
                created_at: call.now,
            };
            match store.record_model_exchange(&row).await {
                Ok(None) => {}
                // Another try of this event recorded first: its answer is the one used.
                Ok(Some(earlier)) => reply = replay(earlier),
                // Not recorded: the answer is still used (the step's commit is what sends
                // anything); a crash before that commit would call the model again.
                Err(e) => {
                    tracing::warn!(error = %e, conversation_id = call.conversation_id, "could not record a model's answer")
                }
            }
        }
        reply
    }
}

/// What `usage` (already capped) costs, at most [`MAX_COST_MICROS_PER_CALL`].
fn capped_cost(prices: &crate::domain::chat::Prices, usage: crate::domain::chat::Usage) -> u64 {
    prices.cost_micros(usage).min(MAX_COST_MICROS_PER_CALL)
}

/// A figure of one call (capped already: tokens and cost) as a ledger column.
pub(super) fn ledger(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A recorded exchange as the step's answer.
pub(super) fn replay(x: crate::store::ModelExchange) -> Result<ModelReply, String> {
    match (x.answer, x.error) {
        (Some(answer), _) => serde_json::from_value::<crate::domain::chat::ChatAnswer>(answer)
            .map(|mut answer| {
                // Recorded before usage was capped as it is read: capped again here.
                answer.usage = answer.usage.capped();
                answer
            })
            .map(|answer| ModelReply {
                answer,
                cost_micros: (x.cost_micros.max(0) as u64).min(MAX_COST_MICROS_PER_CALL),
                latency_ms: 0,
                replayed: true,
            })
            .map_err(|e| format!("the recorded answer cannot be read: {e}")),
        (None, Some(error)) => Err(error),
        (None, None) => Err("the recorded call has no answer".into()),
    }
}
