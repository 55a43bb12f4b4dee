//! A language-model provider double on loopback that speaks both OpenAI's chat completions
//! (`POST /v1/chat/completions`) and Anthropic's Messages (`POST /v1/messages`), and
//! OpenAI's `POST /v1/audio/transcriptions`. It answers from one queue of provider-neutral
//! answers (`DoubleAnswer`), each optionally after a delay, records every request body and
//! counts calls. With the queue empty it answers 500, so a test that forgot an answer
//! fails loudly. The tests at the end run Parley's model clients against it.

use parley::config::Config;
use parley::domain::chat::{ChatMessage, ChatRequest, ToolSpec};
use parley::models::{ModelError, Models, Transcriber};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the double answers, whatever the provider.
#[derive(Debug, Clone)]
pub enum DoubleAnswer {
    /// A text answer (or a transcript, on `/v1/audio/transcriptions`).
    Text(String),
    /// One tool call: its name and arguments.
    Tool(String, Value),
    /// Several tool calls in one answer.
    Tools(Vec<(String, Value)>),
    /// Fail with this HTTP status (429, 500…).
    Fail(u16),
}

/// A request the double received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// The JSON body; for a transcription, `{"form": "<the multipart body as text>"}`.
    pub body: Value,
}

#[derive(Default)]
struct State {
    answers: VecDeque<(Duration, DoubleAnswer)>,
    received: Vec<Received>,
}

#[derive(Clone, Default)]
pub struct ModelDouble {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl ModelDouble {
    pub async fn start() -> Self {
        let mut double = ModelDouble::default();
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(openai))
            .route("/v1/messages", axum::routing::post(anthropic))
            .route(
                "/v1/audio/transcriptions",
                axum::routing::post(transcription),
            )
            .with_state(double.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        double.url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        double
    }

    /// The `base_url` of an `openai` model (and of `transcribe:`).
    pub fn openai_base(&self) -> String {
        format!("{}/v1", self.url)
    }

    /// The `base_url` of an `anthropic` model.
    pub fn anthropic_base(&self) -> String {
        self.url.clone()
    }

    /// The answer to a coming call, after those queued before it.
    pub fn push(&self, answer: DoubleAnswer) {
        self.push_after(Duration::ZERO, answer);
    }

    /// An answer given only after `delay` (a slow model).
    pub fn push_after(&self, delay: Duration, answer: DoubleAnswer) {
        self.state
            .lock()
            .unwrap()
            .answers
            .push_back((delay, answer));
    }

    /// Every request received, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    pub fn calls(&self) -> usize {
        self.state.lock().unwrap().received.len()
    }

    /// Records a request and takes the next answer (after its delay); `None` when the
    /// queue is empty.
    async fn next(&self, path: &str, body: Value) -> (usize, Option<DoubleAnswer>) {
        let (n, next) = {
            let mut s = self.state.lock().unwrap();
            s.received.push(Received {
                path: path.into(),
                body,
            });
            (s.received.len(), s.answers.pop_front())
        };
        match next {
            Some((delay, answer)) => {
                tokio::time::sleep(delay).await;
                (n, Some(answer))
            }
            None => (n, None),
        }
    }
}

type Answer = (axum::http::StatusCode, axum::Json<Value>);

fn status(code: u16, message: &str) -> Answer {
    (
        axum::http::StatusCode::from_u16(code).unwrap(),
        axum::Json(json!({"error": {"message": message}})),
    )
}

fn ok(body: Value) -> Answer {
    (axum::http::StatusCode::OK, axum::Json(body))
}

fn calls_of(answer: DoubleAnswer) -> Vec<(String, Value)> {
    match answer {
        DoubleAnswer::Tool(name, args) => vec![(name, args)],
        DoubleAnswer::Tools(calls) => calls,
        _ => Vec::new(),
    }
}

async fn openai(
    axum::extract::State(d): axum::extract::State<ModelDouble>,
    axum::Json(body): axum::Json<Value>,
) -> Answer {
    let (n, answer) = d.next("/v1/chat/completions", body).await;
    let usage = json!({"prompt_tokens": 100, "completion_tokens": 10});
    match answer {
        None => status(500, "the model double has no answer queued"),
        Some(DoubleAnswer::Fail(code)) => status(code, "failing as the test asked"),
        Some(DoubleAnswer::Text(text)) => ok(json!({
            "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage,
        })),
        Some(calls) => ok(json!({
            "choices": [{"message": {"role": "assistant", "content": null, "tool_calls":
                calls_of(calls).into_iter().enumerate().map(|(i, (name, args))| json!({
                    "id": format!("call_{n}_{i}"), "type": "function",
                    "function": {"name": name, "arguments": args.to_string()},
                })).collect::<Vec<_>>()}, "finish_reason": "tool_calls"}],
            "usage": usage,
        })),
    }
}

async fn anthropic(
    axum::extract::State(d): axum::extract::State<ModelDouble>,
    axum::Json(body): axum::Json<Value>,
) -> Answer {
    let (n, answer) = d.next("/v1/messages", body).await;
    let usage = json!({"input_tokens": 100, "output_tokens": 10});
    match answer {
        None => status(500, "the model double has no answer queued"),
        Some(DoubleAnswer::Fail(code)) => status(code, "failing as the test asked"),
        Some(DoubleAnswer::Text(text)) => ok(json!({
            "type": "message", "role": "assistant", "stop_reason": "end_turn",
            "content": [{"type": "text", "text": text}], "usage": usage,
        })),
        Some(calls) => ok(json!({
            "type": "message", "role": "assistant", "stop_reason": "tool_use",
            "content": calls_of(calls).into_iter().enumerate().map(|(i, (name, input))| json!({
                "type": "tool_use", "id": format!("toolu_{n}_{i}"), "name": name, "input": input,
            })).collect::<Vec<_>>(),
            "usage": usage,
        })),
    }
}

async fn transcription(
    axum::extract::State(d): axum::extract::State<ModelDouble>,
    body: axum::body::Bytes,
) -> Answer {
    let form = String::from_utf8_lossy(&body).into_owned();
    match d
        .next("/v1/audio/transcriptions", json!({ "form": form }))
        .await
        .1
    {
        None => status(500, "the model double has no transcript queued"),
        Some(DoubleAnswer::Fail(code)) => status(code, "failing as the test asked"),
        Some(DoubleAnswer::Text(text)) => ok(json!({ "text": text })),
        Some(other) => panic!("a transcription cannot answer {other:?}"),
    }
}

// ---- Parley's model clients against the double -------------------------------------------

fn models(double: &ModelDouble, extra: &str) -> Models {
    let yaml = format!(
        "models:\n  - {{ name: gpt, kind: openai, base_url: \"{}\", model: gpt-4o-mini, api_key: sk-test{extra} }}\n  - {{ name: claude, kind: anthropic, base_url: \"{}\", model: claude-sonnet-4-5, api_key: sk-ant{extra} }}\n",
        double.openai_base(),
        double.anthropic_base(),
    );
    let config = Config::from_yaml(&yaml, "parley.yaml", &|_| None).unwrap();
    Models::from_config(&config).unwrap()
}

fn request(text: &str) -> ChatRequest {
    ChatRequest {
        system: "You help with orders.".into(),
        messages: vec![ChatMessage::user(text)],
        tools: vec![ToolSpec {
            name: "save".into(),
            description: "Save the order number".into(),
            parameters: json!({"type": "object", "properties": {"order_number": {"type": "string"}}}),
        }],
        max_tokens: 200,
    }
}

#[tokio::test]
async fn both_providers_answer_text_and_tool_calls_from_one_queue() {
    let double = ModelDouble::start().await;
    let models = models(&double, "");
    double.push(DoubleAnswer::Tool(
        "save".into(),
        json!({"order_number": "A-12345"}),
    ));
    double.push(DoubleAnswer::Text("Noted!".into()));
    double.push(DoubleAnswer::Tools(vec![
        ("save".into(), json!({"order_number": "A-1"})),
        ("handoff".into(), json!({})),
    ]));
    let gpt = models.get("gpt").unwrap();
    let a = gpt.client.complete(&request("A-12345")).await.unwrap();
    assert_eq!(a.tool_calls[0].name, "save");
    assert_eq!(
        a.tool_calls[0].arguments,
        json!({"order_number": "A-12345"})
    );
    let a = gpt.client.complete(&request("thanks")).await.unwrap();
    assert_eq!(a.text, "Noted!");
    let a = gpt.client.complete(&request("and")).await.unwrap();
    let names: Vec<&str> = a.tool_calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["save", "handoff"]);

    let claude = models.get("claude").unwrap();
    double.push(DoubleAnswer::Tool(
        "save".into(),
        json!({"order_number": "B-2"}),
    ));
    let a = claude.client.complete(&request("B-2")).await.unwrap();
    assert_eq!(a.tool_calls[0].arguments, json!({"order_number": "B-2"}));
    assert_eq!(a.tool_calls[0].id, "toolu_4_0");
    double.push(DoubleAnswer::Text("Hello".into()));
    let a = claude.client.complete(&request("hi")).await.unwrap();
    assert_eq!(a.text, "Hello");
    assert_eq!(a.usage.input_tokens, 100);

    let received = double.received();
    assert_eq!(double.calls(), 5);
    assert_eq!(received[0].path, "/v1/chat/completions");
    assert_eq!(received[0].body["model"], "gpt-4o-mini");
    assert_eq!(received[4].path, "/v1/messages");
    assert_eq!(received[4].body["system"], "You help with orders.");
    assert_eq!(
        received[4].body["tools"][0]["input_schema"]["type"],
        "object"
    );
}

#[tokio::test]
async fn a_failing_then_slow_model_is_retried_then_timed_out() {
    let double = ModelDouble::start().await;
    let models = models(&double, ", timeout: 3s, retries: 1");
    double.push(DoubleAnswer::Fail(429));
    double.push(DoubleAnswer::Text("after a retry".into()));
    let gpt = models.get("gpt").unwrap();
    assert_eq!(
        gpt.client.complete(&request("hi")).await.unwrap().text,
        "after a retry"
    );
    assert_eq!(double.calls(), 2);

    double.push(DoubleAnswer::Fail(500));
    double.push(DoubleAnswer::Fail(500));
    let err = models
        .get("claude")
        .unwrap()
        .client
        .complete(&request("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ModelError::Failed(
            "model `claude` answered HTTP 500: {\"error\":{\"message\":\"failing as the test asked\"}}"
                .into()
        )
    );
    assert_eq!(double.calls(), 4);

    double.push_after(Duration::from_secs(10), DoubleAnswer::Text("late".into()));
    assert_eq!(
        gpt.client.complete(&request("hi")).await.unwrap_err(),
        ModelError::Timeout(Duration::from_secs(3))
    );
}

#[tokio::test]
async fn a_voice_note_is_transcribed_by_the_double() {
    let double = ModelDouble::start().await;
    let yaml = format!(
        "transcribe: {{ base_url: \"{}\", model: whisper-1, language: es }}\n",
        double.openai_base()
    );
    let config = Config::from_yaml(&yaml, "parley.yaml", &|_| None).unwrap();
    let transcriber = Transcriber::from_config(config.transcribe.as_ref().unwrap()).unwrap();
    double.push(DoubleAnswer::Text("quiero hablar con una persona".into()));
    let text = transcriber
        .transcribe(bytes::Bytes::from_static(b"OggS..."), "audio/ogg")
        .await
        .unwrap();
    assert_eq!(text.text, "quiero hablar con una persona");
    let form = double.received()[0].body["form"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(form.contains("name=\"language\"\r\n\r\nes\r\n"), "{form}");
    assert!(form.contains("OggS..."), "{form}");
}
