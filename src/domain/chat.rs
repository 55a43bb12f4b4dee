//! A language model's exchange as Parley speaks it, whatever the provider: the request an
//! `agent` step builds (instructions, the conversation so far, the tools the author
//! declared), and the answer (text and/or tool calls, with the tokens it used). The model
//! clients (`crate::models`) translate these to OpenAI's chat completions and Anthropic's
//! Messages; the store keeps both sides of each exchange as JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What is asked of a model for one round of an agent's turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The system prompt: the scope, the author's instructions, retrieved passages.
    pub system: String,
    /// The conversation, oldest first.
    pub messages: Vec<ChatMessage>,
    /// The tools the model may call (the step's declared actions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    /// The longest answer, in tokens.
    pub max_tokens: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    /// The customer.
    User,
    /// The model (its earlier answers).
    Assistant,
    /// The outcome of a tool call the model made (`tool_call_id` says which).
    Tool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: ChatRole,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// The assistant's tool calls (role `Assistant` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call this message answers (role `Tool` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: ChatRole::User,
            text: text.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    pub fn assistant(text: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Self {
            role: ChatRole::Assistant,
            text: text.into(),
            tool_calls,
            tool_call_id: None,
        }
    }

    pub fn tool_result(call_id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            role: ChatRole::Tool,
            text: text.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
        }
    }
}

/// A tool the model may call: a name, what it does, and its arguments as a JSON Schema
/// object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call (made up when it gives none).
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them: untrusted, validated by the step.
    #[serde(default)]
    pub arguments: Value,
}

/// What the model answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatAnswer {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default)]
    pub usage: Usage,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// A model's price, in US dollars per million tokens each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    pub input_per_million: f64,
    pub output_per_million: f64,
}

impl Prices {
    /// What `usage` costs, in millionths of a dollar (whole numbers add up exactly).
    pub fn cost_micros(&self, usage: Usage) -> u64 {
        let c = usage.input_tokens as f64 * self.input_per_million
            + usage.output_tokens as f64 * self.output_per_million;
        if c.is_finite() && c > 0.0 {
            c.round() as u64
        } else {
            0
        }
    }
}

/// Dollars, from millionths of a dollar.
pub fn dollars(micros: u64) -> f64 {
    micros as f64 / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_add_up_in_millionths_of_a_dollar() {
        let p = Prices {
            input_per_million: 0.15,
            output_per_million: 0.60,
        };
        // 1,000 in at $0.15/M = $0.00015 = 150 µ$; 500 out at $0.60/M = 300 µ$.
        let u = Usage {
            input_tokens: 1000,
            output_tokens: 500,
        };
        assert_eq!(p.cost_micros(u), 450);
        assert_eq!(dollars(450), 0.00045);
        assert_eq!(Prices::default().cost_micros(u), 0);
        // A provider's absurd usage saturates instead of overflowing.
        let huge = Usage {
            input_tokens: u64::MAX,
            output_tokens: u64::MAX,
        };
        assert_eq!(huge.total(), u64::MAX);
        assert!(p.cost_micros(huge) > 1_000_000_000_000);
    }
}
