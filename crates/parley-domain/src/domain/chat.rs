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

/// Tool call arguments nested deeper than this are refused as the model's answer is read
/// (kept as their JSON text, which the step refuses saying why). Well under the 128 levels
/// `serde_json` reads back: the stored exchange wraps arguments in a few more levels
/// (`messages[i].tool_calls[j].arguments`), and it must always be readable again.
pub const MAX_ARGUMENT_DEPTH: usize = 32;

/// How deep the JSON text `text` nests (`{}` is 1, `[{}]` is 2), counting the brackets
/// outside strings; for any text, JSON or not, in one pass without recursion.
pub fn json_depth(text: impl AsRef<[u8]>) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in text.as_ref() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Arguments as a step may see them: a value nested deeper than [`MAX_ARGUMENT_DEPTH`]
/// becomes its JSON text, a string, so the record of the exchange stays shallow.
pub fn shallow_arguments(arguments: Value) -> Value {
    if value_depth(&arguments) > MAX_ARGUMENT_DEPTH {
        Value::String(arguments.to_string())
    } else {
        arguments
    }
}

/// How deep a value nests, like [`json_depth`] of its text.
fn value_depth(value: &Value) -> usize {
    match value {
        Value::Array(a) => 1 + a.iter().map(value_depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(value_depth).max().unwrap_or(0),
        _ => 0,
    }
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

/// What is counted of one call at most, whatever a provider reports: a billion tokens
/// each way and a million dollars, so sums over millions of calls stay exact in 64 bits.
/// Metrics, the ledger, traces and budgets all count a call by these capped figures.
pub const MAX_TOKENS_PER_CALL: u64 = 1_000_000_000;
pub const MAX_COST_MICROS_PER_CALL: u64 = 1_000_000_000_000;

/// Bytes of text per token in Parley's own estimates (budgets checked before a call, and
/// usage a provider did not report).
pub const BYTES_PER_TOKEN: usize = 4;

/// The length of a JSON value as text, without writing the text anywhere.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a `Value` to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

impl ChatRequest {
    /// Tokens the request is estimated to take at one token per [`BYTES_PER_TOKEN`] bytes
    /// of what is sent: the system prompt, the messages with their tool calls (names and
    /// arguments), and the tools declared (names, descriptions and argument schemas, which
    /// go with every call).
    pub fn estimated_tokens(&self) -> u64 {
        let messages: usize = self
            .messages
            .iter()
            .map(|m| {
                m.text.len()
                    + m.tool_calls
                        .iter()
                        .map(|c| c.name.len() + json_len(&c.arguments))
                        .sum::<usize>()
            })
            .sum();
        let tools: usize = self
            .tools
            .iter()
            .map(|t| t.name.len() + t.description.len() + json_len(&t.parameters))
            .sum();
        ((self.system.len() + messages + tools) / BYTES_PER_TOKEN) as u64
    }
}

impl ChatAnswer {
    /// Tokens the answer is estimated to take: its text, tool names and arguments at one
    /// token per [`BYTES_PER_TOKEN`] bytes.
    pub fn estimated_tokens(&self) -> u64 {
        let bytes = self.text.len()
            + self
                .tool_calls
                .iter()
                .map(|c| c.name.len() + json_len(&c.arguments))
                .sum::<usize>();
        bytes.div_ceil(BYTES_PER_TOKEN) as u64
    }
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// Each way at most [`MAX_TOKENS_PER_CALL`].
    pub fn capped(self) -> Self {
        Self {
            input_tokens: self.input_tokens.min(MAX_TOKENS_PER_CALL),
            output_tokens: self.output_tokens.min(MAX_TOKENS_PER_CALL),
        }
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

    /// A budget is checked against this estimate before a call: it counts everything the
    /// call sends, the declared tools' schemas (kilobytes with many `save` variables) and
    /// the arguments of earlier tool calls included.
    #[test]
    fn a_request_is_estimated_with_its_tools_and_tool_calls() {
        let bare = ChatRequest {
            system: "s".repeat(400),
            messages: vec![ChatMessage::user("u".repeat(400))],
            tools: Vec::new(),
            max_tokens: 100,
        };
        assert_eq!(bare.estimated_tokens(), 200);
        let schema = serde_json::json!({"type": "object", "properties": {"order_number": {"type": "string", "description": "d".repeat(3_000)}}});
        let with_tools = ChatRequest {
            tools: vec![ToolSpec {
                name: "save".into(),
                description: "x".repeat(996),
                parameters: schema.clone(),
            }],
            ..bare.clone()
        };
        let schema_len = schema.to_string().len();
        assert_eq!(
            with_tools.estimated_tokens(),
            ((800 + 4 + 996 + schema_len) / BYTES_PER_TOKEN) as u64
        );
        let mut with_call = bare.clone();
        with_call.messages.push(ChatMessage::assistant(
            "",
            vec![ToolCall {
                id: "c1".into(),
                name: "save".into(),
                arguments: serde_json::json!({"note": "n".repeat(4_000)}),
            }],
        ));
        assert!(
            with_call.estimated_tokens() >= 200 + 1_000,
            "{}",
            with_call.estimated_tokens()
        );
    }
}
