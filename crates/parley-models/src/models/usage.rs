//! The tokens a call used, as the provider reports them in its answer's `usage`, or as
//! Parley estimates them when it does not: a budget must hold against an endpoint that
//! leaves `usage` out (some Ollama and vLLM versions, proxies) or fills it with nonsense.

use crate::domain::chat::{ChatAnswer, ChatRequest, Usage, MAX_TOKENS_PER_CALL};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};

/// The counts an answer reported, each `None` when missing or unreadable.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Reported {
    pub input: Option<u64>,
    pub output: Option<u64>,
}

impl Reported {
    /// The counts under `usage.{input_key}` and `usage.{output_key}` of `answer`.
    pub fn read(answer: &Value, input_key: &str, output_key: &str) -> Self {
        let count = |key: &str| tokens(answer.get("usage").and_then(|u| u.get(key)));
        Self {
            input: count(input_key),
            output: count(output_key),
        }
    }
}

/// A token count as reported: a whole number of 0 or more (`120`, or `120.0` as some
/// servers write it), taken at most at [`MAX_TOKENS_PER_CALL`]. Negative, fractional and
/// non-numbers (`"120"`, `null`) are unreadable.
fn tokens(value: Option<&Value>) -> Option<u64> {
    let Value::Number(n) = value? else {
        return None;
    };
    if let Some(n) = n.as_u64() {
        return Some(n.min(MAX_TOKENS_PER_CALL));
    }
    let f = n.as_f64()?;
    let whole = f.is_finite() && f >= 0.0 && f.fract() == 0.0;
    whole.then_some(if f >= MAX_TOKENS_PER_CALL as f64 {
        MAX_TOKENS_PER_CALL
    } else {
        f as u64
    })
}

/// What one model's calls count when its answers do not say: Parley's estimate, the same
/// one budgets reserve before a call, with one warning per model (not per call).
pub(crate) struct Fallback {
    model: String,
    warned: AtomicBool,
}

impl Fallback {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_string(),
            warned: AtomicBool::new(false),
        }
    }

    /// The usage of `answer` to `request`: each count as reported, or estimated. A count
    /// of 0 is no report (a prompt always has tokens; a proxy that says 0 would otherwise
    /// make every budget meaningless).
    pub fn usage(&self, reported: Reported, request: &ChatRequest, answer: &ChatAnswer) -> Usage {
        let reported = Reported {
            input: reported.input.filter(|&n| n > 0),
            output: reported.output.filter(|&n| n > 0),
        };
        let unreported = reported.input.is_none() || reported.output.is_none();
        if unreported && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                model = %self.model,
                "the model's answers do not report their usage as whole numbers of tokens; Parley estimates it (one token per 4 bytes) for costs and budgets"
            );
        }
        Usage {
            input_tokens: reported.input.unwrap_or_else(|| request.estimated_tokens()),
            output_tokens: reported.output.unwrap_or_else(|| answer.estimated_tokens()),
        }
        .capped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_are_whole_numbers_of_zero_or_more_up_to_the_cap() {
        let read = |usage: Value| Reported::read(&json!({ "usage": usage }), "in", "out");
        assert_eq!(
            read(json!({"in": 120, "out": 30.0})),
            Reported {
                input: Some(120),
                output: Some(30)
            }
        );
        for bad in [
            json!(-5),
            json!(12.5),
            json!("120"),
            json!(null),
            json!([1]),
        ] {
            assert_eq!(read(json!({"in": bad, "out": 1})).input, None, "{bad}");
        }
        assert_eq!(
            read(json!({"in": u64::MAX, "out": 1e30})),
            Reported {
                input: Some(MAX_TOKENS_PER_CALL),
                output: Some(MAX_TOKENS_PER_CALL)
            }
        );
        assert_eq!(
            Reported::read(&json!({"choices": []}), "in", "out"),
            Reported::default()
        );
    }

    #[test]
    fn missing_counts_are_estimated() {
        let request = ChatRequest {
            system: "s".repeat(400),
            messages: vec![crate::domain::chat::ChatMessage::user("u".repeat(400))],
            tools: vec![],
            max_tokens: 50,
        };
        let answer = ChatAnswer {
            text: "a".repeat(40),
            ..Default::default()
        };
        let f = Fallback::new("m");
        assert_eq!(
            f.usage(Reported::default(), &request, &answer),
            Usage {
                input_tokens: 200,
                output_tokens: 10
            }
        );
        let half = Reported {
            input: Some(7),
            output: None,
        };
        assert_eq!(f.usage(half, &request, &answer).input_tokens, 7);
        assert!(f.warned.load(Ordering::Relaxed));
    }
}
