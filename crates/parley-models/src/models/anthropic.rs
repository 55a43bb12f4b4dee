//! Anthropic's Messages (`POST {base_url}/v1/messages`). The system prompt is a top-level
//! field, tool calls are `tool_use` blocks, tool results are `tool_result` blocks in a
//! user message, and roles must alternate: consecutive messages of one role (several tool
//! results, say) are merged into one. The wire format stays in this file.

use super::client::{Body, Transport};
use super::usage::{Fallback, Reported};
use super::{ChatModel, ModelError};
use crate::domain::chat::{self, ChatAnswer, ChatRequest, ChatRole, ToolCall};
use async_trait::async_trait;
use serde_json::{json, Value};

/// The API version Parley speaks (sent as `anthropic-version`).
pub const API_VERSION: &str = "2023-06-01";

pub struct Anthropic {
    transport: Transport,
    model: String,
    usage: Fallback,
}

/// Where the requests go, for a configured `base_url`.
pub(crate) fn url(base_url: &str) -> String {
    format!("{}/v1/messages", base_url.trim_end_matches('/'))
}

impl Anthropic {
    /// `transport` posts to [`url`].
    pub(crate) fn new(transport: Transport, model: &str) -> Self {
        Self {
            usage: Fallback::new(&transport.name),
            transport,
            model: model.to_string(),
        }
    }
}

#[async_trait]
impl ChatModel for Anthropic {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatAnswer, ModelError> {
        let answer = self
            .transport
            .post(Body::json(&request_body(&self.model, request))?)
            .await?;
        let (mut answer, reported) =
            parse_answer(&answer).map_err(|what| self.transport.failed(&what))?;
        answer.usage = self.usage.usage(reported, request, &answer);
        Ok(answer)
    }
}

/// The request as Anthropic reads it.
pub(crate) fn request_body(model: &str, request: &ChatRequest) -> Value {
    let mut messages: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in &request.messages {
        let (role, blocks) = match m.role {
            ChatRole::User => ("user", text_block(&m.text)),
            ChatRole::Assistant => {
                let mut blocks = text_block(&m.text);
                blocks.extend(m.tool_calls.iter().map(|c| {
                    json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input(&c.arguments)})
                }));
                ("assistant", blocks)
            }
            ChatRole::Tool => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id.as_deref().unwrap_or_default(),
                    "content": m.text,
                })],
            ),
        };
        // Anthropic refuses empty messages and two in a row from one role.
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some((last, content)) if *last == role => content.extend(blocks),
            _ => messages.push((role, blocks)),
        }
    }
    let mut body = json!({
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": messages
            .into_iter()
            .map(|(role, content)| json!({"role": role, "content": content}))
            .collect::<Vec<_>>(),
    });
    if !request.system.is_empty() {
        body["system"] = json!(request.system);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
    }
    body
}

fn text_block(text: &str) -> Vec<Value> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![json!({"type": "text", "text": text})]
    }
}

/// A tool call's `input` must be an object: arguments that were not one are passed on
/// under `arguments`, so the model still sees what it wrote.
fn input(arguments: &Value) -> Value {
    match arguments {
        Value::Object(_) => arguments.clone(),
        Value::Null => json!({}),
        other => json!({ "arguments": other }),
    }
}

/// The answer's text and tool calls, and the usage it reports (the caller fills in the
/// answer's `usage`); `Err` says what is wrong with its shape.
pub(crate) fn parse_answer(answer: &Value) -> Result<(ChatAnswer, Reported), String> {
    if answer.get("type").and_then(Value::as_str) == Some("error") {
        let message = answer
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        // Whole: `Transport::failed` scrubs the key out, then cuts it.
        return Err(format!("answered with an error: {message}"));
    }
    let blocks = answer
        .get("content")
        .and_then(Value::as_array)
        .ok_or("answered without a `content` list: is base_url Anthropic's Messages API?")?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let t = block
                    .get("text")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("answered with text block {} without text", i + 1))?;
                text.push_str(t);
            }
            Some("tool_use") => {
                let name = block.get("name").and_then(Value::as_str).ok_or_else(|| {
                    format!("answered with tool call block {} without a name", i + 1)
                })?;
                let id = block
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map_or_else(|| format!("toolu_{}", i + 1), str::to_string);
                tool_calls.push(ToolCall {
                    id,
                    name: name.to_string(),
                    // Too deep: kept as its JSON text, which the step refuses.
                    arguments: block
                        .get("input")
                        .cloned()
                        .map_or_else(|| json!({}), chat::shallow_arguments),
                });
            }
            // Thinking and other blocks are not for the customer.
            _ => {}
        }
    }
    Ok((
        ChatAnswer {
            text,
            tool_calls,
            usage: Default::default(),
        },
        Reported::read(answer, "input_tokens", "output_tokens"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::chat::{ChatMessage, ToolSpec};

    #[test]
    fn the_request_is_anthropic_messages_with_alternating_roles() {
        let call = |id: &str, name: &str| ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: json!({"order_number": "A-1"}),
        };
        let request = ChatRequest {
            system: "You help with orders.".into(),
            messages: vec![
                ChatMessage::user("hello"),
                ChatMessage::user("my order is A-1"),
                ChatMessage::assistant(
                    "Let me note it.",
                    vec![call("t1", "save"), call("t2", "tag")],
                ),
                ChatMessage::tool_result("t1", "saved"),
                ChatMessage::tool_result("t2", "tagged"),
                ChatMessage::assistant("Done.", vec![]),
                ChatMessage::user(""),
                ChatMessage::user("thanks"),
            ],
            tools: vec![ToolSpec {
                name: "save".into(),
                description: "Save the order number".into(),
                parameters: json!({"type": "object"}),
            }],
            max_tokens: 300,
        };
        assert_eq!(
            request_body("claude-sonnet-4-5", &request),
            json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 300,
                "system": "You help with orders.",
                "messages": [
                    {"role": "user", "content": [
                        {"type": "text", "text": "hello"},
                        {"type": "text", "text": "my order is A-1"},
                    ]},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": "Let me note it."},
                        {"type": "tool_use", "id": "t1", "name": "save", "input": {"order_number": "A-1"}},
                        {"type": "tool_use", "id": "t2", "name": "tag", "input": {"order_number": "A-1"}},
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": "saved"},
                        {"type": "tool_result", "tool_use_id": "t2", "content": "tagged"},
                    ]},
                    {"role": "assistant", "content": [{"type": "text", "text": "Done."}]},
                    {"role": "user", "content": [{"type": "text", "text": "thanks"}]},
                ],
                "tools": [{"name": "save", "description": "Save the order number", "input_schema": {"type": "object"}}],
            })
        );
    }

    #[test]
    fn arguments_that_were_not_an_object_go_back_under_arguments() {
        let request = ChatRequest {
            system: String::new(),
            messages: vec![ChatMessage::assistant(
                "",
                vec![ToolCall {
                    id: "t".into(),
                    name: "save".into(),
                    arguments: json!("{broken"),
                }],
            )],
            tools: vec![],
            max_tokens: 5,
        };
        let body = request_body("m", &request);
        assert!(body.get("system").is_none() && body.get("tools").is_none());
        assert_eq!(
            body["messages"][0]["content"][0]["input"],
            json!({"arguments": "{broken"})
        );
    }

    #[test]
    fn an_answer_gives_text_tool_calls_and_usage() {
        let answer = parse_answer(&json!({
            "id": "msg_1", "type": "message", "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "…"},
                {"type": "text", "text": "I'll save that."},
                {"type": "tool_use", "id": "toolu_1", "name": "save", "input": {"order_number": "A-1"}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 200, "output_tokens": 40},
        }))
        .unwrap();
        let (answer, usage) = answer;
        assert_eq!(answer.text, "I'll save that.");
        assert_eq!(
            answer.tool_calls,
            vec![ToolCall {
                id: "toolu_1".into(),
                name: "save".into(),
                arguments: json!({"order_number": "A-1"})
            }]
        );
        assert_eq!(
            usage,
            Reported {
                input: Some(200),
                output: Some(40)
            }
        );
    }

    #[test]
    fn arguments_nested_too_deeply_are_kept_as_their_json_text() {
        let nested = |depth: usize| {
            let mut v = json!({});
            for _ in 1..depth {
                v = json!({ "a": v });
            }
            v
        };
        let call = |input: Value| {
            let answer = json!({"content": [{"type": "tool_use", "id": "t", "name": "save", "input": input}]});
            parse_answer(&answer).unwrap().0.tool_calls[0]
                .arguments
                .clone()
        };
        let deep = nested(chat::MAX_ARGUMENT_DEPTH + 1);
        assert_eq!(call(deep.clone()), json!(deep.to_string()));
        let flat = nested(chat::MAX_ARGUMENT_DEPTH);
        assert_eq!(call(flat.clone()), flat);
    }

    #[test]
    fn wrong_shapes_are_named() {
        for (answer, says) in [
            (json!({"choices": []}), "without a `content` list"),
            (
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
                "answered with an error: Overloaded",
            ),
            (
                json!({"content": [{"type": "tool_use", "id": "x"}]}),
                "tool call block 1 without a name",
            ),
            (json!({"content": [{"type": "text"}]}), "without text"),
        ] {
            let err = parse_answer(&answer).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }
}
