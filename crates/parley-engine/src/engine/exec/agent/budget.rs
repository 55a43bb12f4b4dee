//! What an agent step may still spend: the budget checked before each model call.

use super::*;

impl Interpreter<'_> {
    /// Why the call `request` may not be made: the conversation's tokens or cost would go
    /// over the step's budget (the request at its estimate, the answer at `max_tokens`).
    pub(super) fn over_budget(&self, spec: &AgentSpec, request: &ChatRequest) -> Option<String> {
        let input = request.estimated_tokens();
        let output = u64::from(spec.max_tokens);
        let spent = self.state.model_spend;
        if let Some(max) = spec.budget.tokens {
            if spent.tokens.saturating_add(input).saturating_add(output) > max {
                return Some(format!(
                    "the conversation has used {} of its {max} tokens and the next call may take {}",
                    spent.tokens,
                    input + output
                ));
            }
        }
        if let Some(max) = spec.budget.cost {
            let prices = self
                .ctx
                .library
                .options
                .model_prices
                .get(&spec.model)
                .copied()
                .unwrap_or_default();
            let next = prices.cost_micros(crate::domain::chat::Usage {
                input_tokens: input,
                output_tokens: output,
            });
            if dollars(spent.cost_micros.saturating_add(next)) > max {
                return Some(format!(
                    "the conversation has spent ${:.4} of its ${max} and the next call may cost ${:.4}",
                    dollars(spent.cost_micros),
                    dollars(next)
                ));
            }
        }
        None
    }
}
