//! OpenAI-compatible chat completions (`POST {base_url}/chat/completions`): OpenAI, Azure
//! OpenAI, OpenRouter, Ollama, vLLM, llama.cpp's server. The wire format stays in this
//! file; the rest of Parley sees `ChatRequest` and `ChatAnswer`.

use super::client::{Body, Transport};
use super::usage::{Fallback, Reported};
use super::{ChatModel, ModelError};
use crate::domain::chat::{self, ChatAnswer, ChatRequest, ChatRole, ToolCall};
use async_trait::async_trait;
use serde::Serialize;
use serde_json::{json, Value};

pub struct OpenAi {
    transport: Transport,
    model: String,
    usage: Fallback,
}

/// Where the requests go, for a configured `base_url`.
pub(crate) fn url(base_url: &str) -> String {
    format!("{}/chat/completions", base_url.trim_end_matches('/'))
}

impl OpenAi {
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
impl ChatModel for OpenAi {
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

/// The request as OpenAI reads it: the system prompt first, tool calls with their
/// arguments as a JSON string, tool results by `tool_call_id`. Borrowed from the request
/// and written straight to the body's bytes.
pub(crate) fn request_body<'a>(model: &'a str, request: &'a ChatRequest) -> Wire<'a> {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        messages.push(WireMessage::System {
            content: &request.system,
        });
    }
    messages.extend(request.messages.iter().map(|m| {
        match m.role {
            ChatRole::User => WireMessage::User { content: &m.text },
            ChatRole::Assistant => WireMessage::Assistant {
                // OpenAI wants null, not "", beside tool calls without text.
                content: (!m.text.is_empty() || m.tool_calls.is_empty()).then_some(m.text.as_str()),
                tool_calls: m
                    .tool_calls
                    .iter()
                    .map(|c| WireCall {
                        id: &c.id,
                        kind: "function",
                        function: WireFunction {
                            name: &c.name,
                            arguments: arguments_text(&c.arguments),
                        },
                    })
                    .collect(),
            },
            ChatRole::Tool => WireMessage::Tool {
                tool_call_id: m.tool_call_id.as_deref().unwrap_or_default(),
                content: &m.text,
            },
        }
    }));
    Wire {
        model,
        messages,
        max_tokens: request.max_tokens,
        tools: request
            .tools
            .iter()
            .map(|t| WireTool {
                kind: "function",
                function: WireToolFunction {
                    name: &t.name,
                    description: &t.description,
                    parameters: &t.parameters,
                },
            })
            .collect(),
    }
}

/// A chat completions request body.
#[derive(Serialize)]
pub(crate) struct Wire<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
enum WireMessage<'a> {
    System {
        content: &'a str,
    },
    User {
        content: &'a str,
    },
    Assistant {
        content: Option<&'a str>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<WireCall<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: &'a str,
    },
}

#[derive(Serialize)]
struct WireCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    arguments: String,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireToolFunction<'a>,
}

#[derive(Serialize)]
struct WireToolFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a Value,
}

/// Arguments as the JSON string OpenAI carries; arguments that were not JSON when the model
/// wrote them (kept as a string) go back exactly as written.
fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(raw) => raw.clone(),
        Value::Null => "{}".into(),
        other => other.to_string(),
    }
}

/// The answer's text and tool calls, and the usage it reports (the caller fills in the
/// answer's `usage`); `Err` says what is wrong with its shape.
pub(crate) fn parse_answer(answer: &Value) -> Result<(ChatAnswer, Reported), String> {
    if let Some(error) = answer.get("error").filter(|e| !e.is_null()) {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| error.to_string(), str::to_string);
        // Whole: `Transport::failed` scrubs the key out, then cuts it.
        return Err(format!("answered with an error: {message}"));
    }
    let message = answer
        .pointer("/choices/0/message")
        .filter(|m| m.is_object())
        .ok_or("answered without `choices[0].message`: is base_url an OpenAI-compatible API?")?;
    let text = match message.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("answered with a `content` that is not text".into()),
    };
    let mut tool_calls = Vec::new();
    if let Some(calls) = message.get("tool_calls").filter(|c| !c.is_null()) {
        let calls = calls
            .as_array()
            .ok_or("answered with `tool_calls` that are not a list")?;
        for (i, call) in calls.iter().enumerate() {
            let name = call
                .pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("answered with tool call {} without a name", i + 1))?;
            let id = call
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map_or_else(|| format!("call_{}", i + 1), str::to_string);
            let arguments = match call.pointer("/function/arguments") {
                None | Some(Value::Null) => json!({}),
                // The usual form: a JSON string. Kept as written when it is not JSON or
                // nests too deeply, so the step can refuse it and tell the model why.
                Some(Value::String(raw)) if raw.trim().is_empty() => json!({}),
                Some(Value::String(raw)) if chat::json_depth(raw) > chat::MAX_ARGUMENT_DEPTH => {
                    Value::String(raw.clone())
                }
                Some(Value::String(raw)) => {
                    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.clone()))
                }
                // Some servers send the object itself.
                Some(other) => chat::shallow_arguments(other.clone()),
            };
            tool_calls.push(ToolCall {
                id,
                name: name.to_string(),
                arguments,
            });
        }
    }
    Ok((
        ChatAnswer {
            text,
            tool_calls,
            usage: Default::default(),
        },
        Reported::read(answer, "prompt_tokens", "completion_tokens"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::chat::{ChatMessage, ToolSpec};

    fn request() -> ChatRequest {
        ChatRequest {
            system: "You help with orders.".into(),
            messages: vec![
                ChatMessage::user("my order is A-12345"),
                ChatMessage::assistant(
                    "",
                    vec![ToolCall {
                        id: "call_1".into(),
                        name: "save".into(),
                        arguments: json!({"order_number": "A-12345"}),
                    }],
                ),
                ChatMessage::tool_result("call_1", "saved"),
                ChatMessage::assistant("Noted.", vec![]),
                ChatMessage::user("thanks"),
            ],
            tools: vec![ToolSpec {
                name: "save".into(),
                description: "Save the order number".into(),
                parameters: json!({"type": "object", "properties": {"order_number": {"type": "string"}}}),
            }],
            max_tokens: 300,
        }
    }

    fn body(model: &str, r: &ChatRequest) -> Value {
        serde_json::to_value(request_body(model, r)).unwrap()
    }

    #[test]
    fn the_request_is_openai_chat_completions() {
        assert_eq!(
            body("gpt-4o-mini", &request()),
            json!({
                "model": "gpt-4o-mini",
                "max_tokens": 300,
                "messages": [
                    {"role": "system", "content": "You help with orders."},
                    {"role": "user", "content": "my order is A-12345"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "save", "arguments": "{\"order_number\":\"A-12345\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "saved"},
                    {"role": "assistant", "content": "Noted."},
                    {"role": "user", "content": "thanks"},
                ],
                "tools": [{"type": "function", "function": {
                    "name": "save",
                    "description": "Save the order number",
                    "parameters": {"type": "object", "properties": {"order_number": {"type": "string"}}},
                }}],
            })
        );
    }

    #[test]
    fn no_tools_and_no_system_prompt_leave_them_out() {
        let r = ChatRequest {
            system: String::new(),
            messages: vec![ChatMessage::user("hi")],
            tools: vec![],
            max_tokens: 10,
        };
        let body = body("llama3.1", &r);
        assert!(body.get("tools").is_none());
        assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));
    }

    #[test]
    fn an_answer_gives_text_tool_calls_and_usage() {
        let answer = parse_answer(&json!({
            "choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_9", "type": "function", "function": {"name": "save", "arguments": "{\"order_number\": \"A-1\"}"}},
                {"type": "function", "function": {"name": "handoff", "arguments": ""}},
            ]}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
        }))
        .unwrap();
        let (answer, usage) = answer;
        assert_eq!(answer.text, "");
        assert_eq!(
            answer.tool_calls,
            vec![
                ToolCall {
                    id: "call_9".into(),
                    name: "save".into(),
                    arguments: json!({"order_number": "A-1"})
                },
                ToolCall {
                    id: "call_2".into(),
                    name: "handoff".into(),
                    arguments: json!({})
                },
            ]
        );
        assert_eq!(
            usage,
            Reported {
                input: Some(120),
                output: Some(30)
            }
        );
        let (text, usage) =
            parse_answer(&json!({"choices": [{"message": {"content": "Hello"}}]})).unwrap();
        assert_eq!(text.text, "Hello");
        assert_eq!(
            usage,
            Reported::default(),
            "not reported: estimated by the caller"
        );
    }

    /// Arguments nested `depth` levels deep: `{"a":{"a":…{}…}}`.
    fn nested(depth: usize) -> String {
        format!(
            "{}{{}}{}",
            "{\"a\":".repeat(depth - 1),
            "}".repeat(depth - 1)
        )
    }

    #[test]
    fn arguments_nested_too_deeply_are_kept_as_written() {
        assert_eq!(chat::json_depth(nested(33)), 33);
        let call = |arguments: Value| {
            let answer = json!({"choices": [{"message": {"tool_calls": [
                {"id": "c", "function": {"name": "save", "arguments": arguments}}
            ]}}]});
            parse_answer(&answer).unwrap().0.tool_calls[0]
                .arguments
                .clone()
        };
        let deep = nested(chat::MAX_ARGUMENT_DEPTH + 1);
        assert_eq!(call(json!(deep)), json!(deep));
        // Even what serde_json would read (up to 127 levels) is kept as text: the stored
        // exchange nests it a few levels deeper, past what can be read back.
        assert_eq!(call(json!(nested(126))), json!(nested(126)));
        // Sent as an object rather than a string: the same.
        let object: Value = serde_json::from_str(&deep).unwrap();
        assert_eq!(call(object), json!(deep));
        let flat = nested(chat::MAX_ARGUMENT_DEPTH);
        assert_eq!(
            call(json!(flat)),
            serde_json::from_str::<Value>(&flat).unwrap()
        );
    }

    #[test]
    fn arguments_that_are_not_json_are_kept_as_written() {
        let (answer, _) = parse_answer(&json!({"choices": [{"message": {"tool_calls": [
            {"id": "c", "function": {"name": "save", "arguments": "{order_number: A-1"}}
        ]}}]}))
        .unwrap();
        assert_eq!(answer.tool_calls[0].arguments, json!("{order_number: A-1"));
        // And they go back to the model exactly as it wrote them.
        assert_eq!(
            arguments_text(&answer.tool_calls[0].arguments),
            "{order_number: A-1"
        );
    }

    #[test]
    fn wrong_shapes_are_named() {
        for (answer, says) in [
            (json!({"id": "x"}), "without `choices[0].message`"),
            (json!({"choices": []}), "without `choices[0].message`"),
            (
                json!({"error": {"message": "model not found"}}),
                "answered with an error: model not found",
            ),
            (
                json!({"choices": [{"message": {"content": 5}}]}),
                "not text",
            ),
            (
                json!({"choices": [{"message": {"tool_calls": {"a": 1}}}]}),
                "not a list",
            ),
            (
                json!({"choices": [{"message": {"tool_calls": [{"function": {}}]}}]}),
                "tool call 1 without a name",
            ),
        ] {
            let err = parse_answer(&answer).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }
}
