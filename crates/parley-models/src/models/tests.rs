//! The clients against a provider double on loopback: what goes over the wire, retries,
//! timeouts, the answer bound, calls in flight, transcription, and `Models::from_config`.

use super::*;
use crate::domain::chat::{ChatMessage, ToolSpec, Usage};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One scripted answer of the double.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: Vec<u8>,
    delay: Duration,
    headers: Vec<(&'static str, String)>,
}

fn ok(body: Value) -> Reply {
    Reply {
        status: 200,
        body: body.to_string().into_bytes(),
        delay: Duration::ZERO,
        headers: vec![("content-type", "application/json".into())],
    }
}

fn status(code: u16, body: &str) -> Reply {
    Reply {
        status: code,
        body: body.as_bytes().to_vec(),
        delay: Duration::ZERO,
        headers: Vec::new(),
    }
}

fn openai_text(text: &str) -> Reply {
    ok(
        json!({"choices": [{"message": {"role": "assistant", "content": text}}],
              "usage": {"prompt_tokens": 10, "completion_tokens": 2}}),
    )
}

struct Seen {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

#[derive(Clone, Default)]
struct Double {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

impl Double {
    async fn serve(replies: Vec<Reply>) -> (Self, String) {
        let double = Double {
            replies: Arc::new(Mutex::new(replies.into())),
            ..Default::default()
        };
        async fn handle(
            axum::extract::State(d): axum::extract::State<Double>,
            uri: Uri,
            headers: HeaderMap,
            body: axum::body::Bytes,
        ) -> Response {
            let now = d.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            d.most_in_flight.fetch_max(now, Ordering::SeqCst);
            d.seen.lock().unwrap().push(Seen {
                path: uri.path().to_string(),
                headers,
                body: body.to_vec(),
            });
            let reply = d.replies.lock().unwrap().pop_front();
            let reply = reply.unwrap_or_else(|| status(599, "the double has no more answers"));
            tokio::time::sleep(reply.delay).await;
            d.in_flight.fetch_sub(1, Ordering::SeqCst);
            let mut response =
                (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
            for (k, v) in reply.headers {
                response.headers_mut().insert(k, v.parse().unwrap());
            }
            response
        }
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(double.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (double, url)
    }

    fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn body(&self, i: usize) -> Value {
        serde_json::from_slice(&self.seen.lock().unwrap()[i].body).unwrap()
    }

    fn header(&self, i: usize, name: &str) -> Option<String> {
        self.seen.lock().unwrap()[i]
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

fn config(kind: &str, url: &str, extra: &str) -> ModelConfig {
    serde_yaml::from_str(&format!(
        "{{name: m, kind: {kind}, base_url: \"{url}\", model: test-model, api_key: sk-secret-key, {extra}}}"
    ))
    .unwrap()
}

fn model(kind: &str, url: &str, extra: &str) -> Model {
    Model::from_config(&config(kind, url, extra)).unwrap()
}

fn request() -> ChatRequest {
    ChatRequest {
        system: "Be brief.".into(),
        messages: vec![ChatMessage::user("hi")],
        tools: vec![ToolSpec {
            name: "save".into(),
            description: "Save a value".into(),
            parameters: json!({"type": "object"}),
        }],
        max_tokens: 50,
    }
}

#[tokio::test]
async fn an_openai_call_posts_chat_completions_with_the_bearer_key() {
    let (double, url) = Double::serve(vec![ok(json!({
        "choices": [{"message": {"content": null, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "save", "arguments": "{\"a\":1}"}}]}}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7},
    }))])
    .await;
    let m = model("openai", &format!("{url}/v1/"), "");
    let answer = m.client.complete(&request()).await.unwrap();
    assert_eq!(answer.tool_calls[0].arguments, json!({"a": 1}));
    assert_eq!(answer.usage.total(), 18);
    assert_eq!(double.seen.lock().unwrap()[0].path, "/v1/chat/completions");
    assert_eq!(
        double.header(0, "authorization").as_deref(),
        Some("Bearer sk-secret-key")
    );
    assert_eq!(
        double.header(0, "content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        double.body(0),
        serde_json::to_value(openai::request_body("test-model", &request())).unwrap()
    );
}

#[tokio::test]
async fn an_anthropic_call_posts_messages_with_its_headers() {
    let (double, url) = Double::serve(vec![ok(json!({
        "content": [{"type": "text", "text": "Hello"}],
        "usage": {"input_tokens": 5, "output_tokens": 1},
    }))])
    .await;
    let m = model("anthropic", &url, "");
    let answer = m.client.complete(&request()).await.unwrap();
    assert_eq!(answer.text, "Hello");
    assert_eq!(double.seen.lock().unwrap()[0].path, "/v1/messages");
    assert_eq!(
        double.header(0, "x-api-key").as_deref(),
        Some("sk-secret-key")
    );
    assert_eq!(
        double.header(0, "anthropic-version").as_deref(),
        Some("2023-06-01")
    );
    assert_eq!(double.header(0, "authorization"), None);
    assert_eq!(
        double.header(0, "content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        double.body(0),
        anthropic::request_body("test-model", &request())
    );
}

#[tokio::test]
async fn a_429_is_tried_again_and_the_retry_counted() {
    let (double, url) = Double::serve(vec![status(429, "slow down"), openai_text("ok")]).await;
    let m = model("openai", &url, "retries: 2");
    assert_eq!(m.client.complete(&request()).await.unwrap().text, "ok");
    assert_eq!(double.calls(), 2);
}

#[tokio::test]
async fn three_500s_use_up_two_retries_and_give_up_with_the_reason() {
    let (double, url) = Double::serve(vec![
        status(500, "boom"),
        status(502, "bad gateway"),
        status(503, "overloaded"),
        openai_text("too late"),
    ])
    .await;
    let m = model("openai", &url, "retries: 2");
    let err = m.client.complete(&request()).await.unwrap_err();
    assert_eq!(
        err,
        ModelError::Failed("model `m` answered HTTP 503: overloaded".into())
    );
    assert_eq!(double.calls(), 3);
}

#[tokio::test]
async fn a_4xx_other_than_429_is_not_retried_and_the_key_is_never_quoted() {
    let body = format!(
        "{{\"error\":{{\"message\":\"Incorrect API key provided: sk-secret-key. {}\"}}}}",
        "x".repeat(500)
    );
    let (double, url) = Double::serve(vec![status(401, &body), openai_text("no")]).await;
    let m = model("openai", &url, "retries: 3");
    let ModelError::Failed(message) = m.client.complete(&request()).await.unwrap_err() else {
        panic!("not a failure");
    };
    assert_eq!(double.calls(), 1);
    assert!(
        message.starts_with("model `m` answered HTTP 401: "),
        "{message}"
    );
    assert!(!message.contains("sk-secret-key"), "{message}");
    assert!(message.contains("[the key]"), "{message}");
    assert!(message.chars().count() < 260, "{message}");
}

/// Proxies (OpenRouter, LiteLLM) answer some errors with HTTP 200 and an error object:
/// the key they echo is scrubbed there too, for both kinds, at any length.
#[tokio::test]
async fn an_error_answered_with_200_never_quotes_the_key() {
    let long = "x".repeat(500);
    for (kind, body) in [
        (
            "openai",
            "{\"error\":{\"message\":\"Incorrect API key provided: sk-secret-key\"}}".to_string(),
        ),
        (
            "anthropic",
            format!("{{\"type\":\"error\",\"error\":{{\"message\":\"{long} invalid x-api-key sk-secret-key\"}}}}"),
        ),
    ] {
        let (_double, url) = Double::serve(vec![status(200, &body)]).await;
        let m = model(kind, &url, "retries: 0");
        let ModelError::Failed(message) = m.client.complete(&request()).await.unwrap_err() else {
            panic!("not a failure");
        };
        assert!(message.contains("answered with an error"), "{message}");
        assert!(!message.contains("sk-secret"), "{kind}: {message}");
        assert!(message.chars().count() < 460, "{message}");
        if kind == "openai" {
            assert!(message.contains("[the key]"), "{message}");
        }
    }
}

#[tokio::test]
async fn retry_after_is_waited_for_when_it_fits_in_the_timeout() {
    let mut slow = status(429, "");
    slow.headers.push(("retry-after", "1".into()));
    let (double, url) = Double::serve(vec![slow, openai_text("ok")]).await;
    let m = model("openai", &url, "timeout: 5s");
    let t0 = Instant::now();
    assert_eq!(m.client.complete(&request()).await.unwrap().text, "ok");
    assert!(
        t0.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(double.calls(), 2);
}

#[tokio::test]
async fn retry_after_past_the_timeout_gives_up_at_once() {
    let mut slow = status(429, "rate limited");
    slow.headers.push(("retry-after", "120".into()));
    let (double, url) = Double::serve(vec![slow, openai_text("ok")]).await;
    let m = model("openai", &url, "timeout: 5s");
    let t0 = Instant::now();
    let err = m.client.complete(&request()).await.unwrap_err().to_string();
    // Far below the 120 s it was asked to wait, with room for a loaded machine.
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert!(
        err.starts_with("model `m` asked to wait 120s before trying again (Retry-After)"),
        "{err}"
    );
    assert!(err.ends_with("answered HTTP 429: rate limited"), "{err}");
    assert_eq!(double.calls(), 1);
}

/// A step's `timeout` shorter than the model's: a Retry-After that fits the model's 30 s
/// but not the step's 2 s is not waited for, and the refusal names the step's time left.
#[tokio::test]
async fn retry_after_past_the_steps_own_timeout_gives_up_at_once() {
    let mut slow = status(429, "rate limited");
    slow.headers.push(("retry-after", "10".into()));
    let (double, url) = Double::serve(vec![slow, openai_text("ok")]).await;
    let m = model("openai", &url, "timeout: 30s");
    let t0 = Instant::now();
    let err = crate::models::within(Duration::from_secs(2), m.client.complete(&request()))
        .await
        .unwrap_err()
        .to_string();
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    let left = err
        .strip_prefix(
            "model `m` asked to wait 10s before trying again (Retry-After), longer than the ",
        )
        .and_then(|rest| rest.split_once("s left of its timeout"))
        .and_then(|(n, _)| n.parse::<u64>().ok());
    assert!(left.is_some_and(|n| n <= 2), "{err}");
    assert_eq!(double.calls(), 1);
}

#[tokio::test]
async fn a_slow_model_times_out_retries_included() {
    let mut slow = openai_text("late");
    slow.delay = Duration::from_secs(30);
    let (_double, url) = Double::serve(vec![slow]).await;
    let m = model("openai", &url, "timeout: 300ms");
    let t0 = Instant::now();
    assert_eq!(
        m.client.complete(&request()).await.unwrap_err(),
        ModelError::Timeout(Duration::from_millis(300))
    );
    // Long before the 30 s answer, with room for a loaded machine.
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
}

/// The step's own `timeout: 2s`, shorter than the model's: the refusal names the 2 s the
/// author wrote, not the 1.999994962s left when the call began.
#[tokio::test]
async fn a_step_timeout_is_named_as_configured() {
    let mut slow = openai_text("late");
    slow.delay = Duration::from_secs(30);
    let (_double, url) = Double::serve(vec![slow]).await;
    let m = model("openai", &url, "timeout: 30s");
    let step = Duration::from_millis(1500);
    let err = crate::models::within(step, m.client.complete(&request()))
        .await
        .unwrap_err();
    assert_eq!(err, ModelError::Timeout(step));
    assert_eq!(err.to_string(), "the model did not answer within 1s 500ms");
}

#[tokio::test]
async fn an_answer_over_one_mebibyte_is_refused() {
    let big = format!(
        "{{\"choices\":[{{\"message\":{{\"content\":\"{}\"}}}}]}}",
        "x".repeat(MAX_ANSWER_BYTES)
    );
    let (double, url) = Double::serve(vec![status(200, &big), openai_text("ok")]).await;
    let m = model("openai", &url, "");
    assert_eq!(
        m.client.complete(&request()).await.unwrap_err(),
        ModelError::Failed(
            "model `m` sent an answer larger than 1 MiB, the most Parley reads".into()
        )
    );
    assert_eq!(double.calls(), 1);
}

#[tokio::test]
async fn answers_that_are_not_json_or_of_the_wrong_shape_are_named() {
    let (_double, url) = Double::serve(vec![
        status(200, "<html>gateway</html>"),
        ok(json!({"content": []})),
    ])
    .await;
    let m = model("openai", &url, "");
    assert_eq!(
        m.client.complete(&request()).await.unwrap_err(),
        ModelError::Failed(
            "model `m` answered with something that is not JSON: <html>gateway</html>".into()
        )
    );
    let err = m.client.complete(&request()).await.unwrap_err().to_string();
    assert!(
        err.starts_with("model `m` answered without `choices[0].message`"),
        "{err}"
    );
}

#[tokio::test]
async fn an_answer_that_is_not_utf8_is_named_so() {
    let mut latin1 = status(200, "");
    latin1.body = b"{\"text\": \"caf\xe9\"}".to_vec();
    let (_double, url) = Double::serve(vec![latin1]).await;
    let m = model("openai", &url, "");
    assert_eq!(
        m.client.complete(&request()).await.unwrap_err(),
        ModelError::Failed(
            "model `m` answered with text that is not UTF-8 (byte 13 is not), which JSON must be"
                .into()
        )
    );
}

#[tokio::test]
async fn usage_that_is_missing_or_unreadable_counts_parleys_estimate() {
    // 800 bytes asked (200 tokens at 4 bytes a token), 12 answered (3 tokens).
    let asked = ChatRequest {
        system: "s".repeat(400),
        messages: vec![ChatMessage::user("u".repeat(400))],
        tools: vec![],
        max_tokens: 50,
    };
    let estimated = Usage {
        input_tokens: 200,
        output_tokens: 3,
    };
    let openai = |usage: Value| {
        ok(json!({"choices": [{"message": {"content": "Hello there!"}}], "usage": usage}))
    };
    let anthropic = |usage: Value| {
        ok(json!({"content": [{"type": "text", "text": "Hello there!"}], "usage": usage}))
    };
    for (kind, answer, usage) in [
        ("openai", openai(json!(null)), estimated),
        (
            "openai",
            openai(json!({"prompt_tokens": -5, "completion_tokens": "9"})),
            estimated,
        ),
        (
            "openai",
            openai(json!({"prompt_tokens": 1.5, "completion_tokens": 7})),
            Usage {
                input_tokens: 200,
                output_tokens: 7,
            },
        ),
        // Whole numbers written as floats are what they say.
        (
            "openai",
            openai(json!({"prompt_tokens": 120.0, "completion_tokens": 30.0})),
            Usage {
                input_tokens: 120,
                output_tokens: 30,
            },
        ),
        // Absurd counts are taken at the per-call cap, never as nothing.
        (
            "openai",
            openai(json!({"prompt_tokens": 1e30, "completion_tokens": u64::MAX})),
            Usage {
                input_tokens: 1_000_000_000,
                output_tokens: 1_000_000_000,
            },
        ),
        ("anthropic", anthropic(json!({})), estimated),
        // Zero is no report: a proxy saying 0 would make every budget meaningless.
        (
            "openai",
            openai(json!({"prompt_tokens": 0, "completion_tokens": 0})),
            estimated,
        ),
        (
            "anthropic",
            anthropic(json!({"input_tokens": 120.0, "output_tokens": -1})),
            Usage {
                input_tokens: 120,
                output_tokens: 3,
            },
        ),
    ] {
        let (_double, url) = Double::serve(vec![answer]).await;
        let m = model(kind, &url, "");
        assert_eq!(
            m.client.complete(&asked).await.unwrap().usage,
            usage,
            "{kind}"
        );
    }
}

#[tokio::test]
async fn an_answer_nested_deeper_than_parley_reads_is_named_so() {
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let (_double, url) = Double::serve(vec![status(200, &deep)]).await;
    let m = model("anthropic", &url, "");
    assert_eq!(
        m.client.complete(&request()).await.unwrap_err(),
        ModelError::Failed(
            "model `m` answered with JSON nested too deeply (more than 127 levels)".into()
        )
    );
}

#[tokio::test]
async fn an_unreachable_model_is_retried_then_named() {
    // A port nobody listens on: bind one, then free it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let m = model("anthropic", &url, "retries: 1, timeout: 5s");
    let err = m.client.complete(&request()).await.unwrap_err().to_string();
    assert!(err.starts_with("model `m` could not be reached: "), "{err}");
    assert!(!err.contains(&url), "{err}");
}

#[tokio::test]
async fn with_concurrency_one_two_calls_run_one_after_the_other() {
    let mut slow = openai_text("a");
    slow.delay = Duration::from_millis(300);
    let (double, url) = Double::serve(vec![slow.clone(), slow]).await;
    let m = model("openai", &url, "concurrency: 1");
    let t0 = Instant::now();
    let r = request();
    let (a, b) = tokio::join!(m.client.complete(&r), m.client.complete(&r));
    assert!(a.is_ok() && b.is_ok());
    assert!(
        t0.elapsed() >= Duration::from_millis(600),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(double.most_in_flight.load(Ordering::SeqCst), 1);

    // With room for two, they overlap.
    let mut slow = openai_text("a");
    slow.delay = Duration::from_millis(300);
    let (double, url) = Double::serve(vec![slow.clone(), slow]).await;
    let m = model("openai", &url, "concurrency: 2");
    let r = request();
    let (a, b) = tokio::join!(m.client.complete(&r), m.client.complete(&r));
    assert!(a.is_ok() && b.is_ok());
    assert_eq!(double.most_in_flight.load(Ordering::SeqCst), 2);
}

/// A call that waited for a slot until little of its timeout was left is not made: the
/// provider would bill an answer that comes too late to use.
#[tokio::test]
async fn a_call_that_waited_for_a_slot_past_most_of_its_timeout_is_not_made() {
    let mut slow = openai_text("a");
    slow.delay = Duration::from_millis(850);
    let (double, url) = Double::serve(vec![slow, openai_text("b")]).await;
    let m = model("openai", &url, "concurrency: 1, timeout: 1s");
    let r = request();
    let (a, b) = tokio::join!(m.client.complete(&r), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        m.client.complete(&r).await
    });
    assert_eq!(a.unwrap().text, "a");
    let err = b.unwrap_err().to_string();
    assert!(err.contains("was not called"), "{err}");
    assert_eq!(double.calls(), 1);
}

#[test]
fn backoff_doubles_with_jitter_and_is_capped() {
    use client::backoff;
    assert_eq!(backoff(0, 0.0), Duration::from_millis(500));
    assert_eq!(backoff(0, 1.0), Duration::from_millis(250));
    assert_eq!(backoff(1, 0.0), Duration::from_secs(1));
    assert_eq!(backoff(3, 0.0), Duration::from_secs(4));
    assert_eq!(backoff(10, 0.0), Duration::from_secs(8));
    assert_eq!(backoff(u32::MAX, 0.5), Duration::from_secs(6));
}

#[tokio::test]
async fn a_voice_note_is_posted_as_a_form_and_its_text_returned() {
    let (double, url) =
        Double::serve(vec![ok(json!({"text": " Hola, mi pedido es A-12345 "}))]).await;
    let config: TranscribeConfigForTest = serde_yaml::from_str(&format!(
        "{{base_url: \"{url}/v1\", api_key: sk-t, language: es}}"
    ))
    .unwrap();
    let t = Transcriber::from_config(&config).unwrap();
    let text = t
        .transcribe(
            bytes::Bytes::from_static(b"OggS-audio"),
            "audio/ogg; codecs=opus",
        )
        .await
        .unwrap();
    assert_eq!(text.text, "Hola, mi pedido es A-12345");
    // Not Ogg Opus, and the service said no duration: the length is not known.
    assert_eq!(text.seconds, None);
    let seen = double.seen.lock().unwrap();
    assert_eq!(seen[0].path, "/v1/audio/transcriptions");
    assert_eq!(seen[0].headers.get("authorization").unwrap(), "Bearer sk-t");
    let content_type = seen[0]
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(content_type.starts_with("multipart/form-data; boundary=parley-"));
    let body = String::from_utf8_lossy(&seen[0].body);
    assert!(
        body.contains("name=\"model\"\r\n\r\nwhisper-1\r\n"),
        "{body}"
    );
    assert!(body.contains("name=\"language\"\r\n\r\nes\r\n"), "{body}");
    assert!(
        body.contains("name=\"file\"; filename=\"voice.ogg\"\r\ncontent-type: audio/ogg\r\n\r\nOggS-audio\r\n"),
        "{body}"
    );
}

type TranscribeConfigForTest = crate::config::TranscribeConfig;

#[tokio::test]
async fn a_transcription_without_text_or_too_large_is_refused() {
    let (double, url) = Double::serve(vec![ok(json!({"error": "x"}))]).await;
    let config: TranscribeConfigForTest =
        serde_yaml::from_str(&format!("{{base_url: \"{url}\"}}")).unwrap();
    let t = Transcriber::from_config(&config).unwrap();
    let err = t
        .transcribe(bytes::Bytes::from_static(b"a"), "audio/ogg")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the transcription service answered without a `text`"),
        "{err}"
    );
    assert_eq!(double.header(0, "authorization"), None);
    let big = bytes::Bytes::from(vec![0u8; transcribe::MAX_AUDIO_BYTES + 1]);
    let err = t
        .transcribe(big, "audio/ogg")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than the 25 MiB"), "{err}");
    assert_eq!(double.calls(), 1);
}

#[tokio::test]
async fn models_come_from_the_config_with_scripted_rules_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        "rules:\n  - say: \"I can help with orders.\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "rules:\n  - when: \"(\"\n    say: x\n",
    )
    .unwrap();
    let yaml = "models:\n  - { name: demo, kind: scripted, script: rules.yaml, price_input: 1.5 }\n  - { name: gpt, kind: openai, base_url: \"http://127.0.0.1:1/v1\", model: gpt-4o-mini }\n";
    let mut config = Config::from_yaml(yaml, "parley.yaml", &|_| None).unwrap();
    config.resolve_paths(dir.path());
    let models = Models::from_config(&config).unwrap();
    let mut names: Vec<&str> = models.names().collect();
    names.sort();
    assert_eq!(names, ["demo", "gpt"]);
    let demo = models.get("demo").unwrap();
    assert_eq!(demo.prices.input_per_million, 1.5);
    assert_eq!(
        demo.client.complete(&request()).await.unwrap().text,
        "I can help with orders."
    );

    let yaml = "models:\n  - { name: ok, kind: scripted, script: rules.yaml }\n  - { name: broken, kind: scripted, script: bad.yaml }\n  - { name: gone, kind: scripted, script: missing.yaml }\n";
    let mut config = Config::from_yaml(yaml, "parley.yaml", &|_| None).unwrap();
    config.resolve_paths(dir.path());
    let problems = Models::from_config(&config).err().unwrap();
    let bad = dir.path().join("bad.yaml").display().to_string();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].starts_with(&format!(
            "models[1] (broken).script: {bad}:2:11: rule 1: `when` is not a regular expression"
        )),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("models[2] (gone).script: ")
            && problems[1].contains("missing.yaml: cannot read the file"),
        "{problems:#?}"
    );
}

#[test]
fn a_base_url_that_is_not_a_url_or_a_key_with_a_line_break_is_named_at_load() {
    for (kind, url) in [
        ("openai", "http://exa mple.com/v1"),
        ("anthropic", "https://[::1"),
    ] {
        let err = Model::from_config(&config(kind, url, "")).err().unwrap();
        assert!(
            err.starts_with(&format!("base_url: `{url}")) && err.contains("is not a URL"),
            "{err}"
        );
    }
    let mut bad_key = config("openai", "http://127.0.0.1:1/v1", "");
    bad_key.api_key = Some("sk-1\nx".into());
    let err = Model::from_config(&bad_key).err().unwrap();
    assert!(err.starts_with("api_key: "), "{err}");
}

#[test]
fn an_embeddings_entry_is_an_embedder_not_a_chat_model() {
    let yaml = "models:\n  - { name: gpt, kind: openai, base_url: \"http://127.0.0.1:1/v1\", model: gpt-4o-mini }\n  - { name: vectors, kind: openai, base_url: \"http://127.0.0.1:1/v1\", model: text-embedding-3-small, embeddings: true, price_input: 0.02, timeout: 5s }\n";
    let config = Config::from_yaml(yaml, "parley.yaml", &|_| None).unwrap();
    let models = Models::from_config(&config).unwrap();
    assert_eq!(models.names().collect::<Vec<_>>(), ["gpt"]);
    assert!(models.get("vectors").is_none());
    let e = models.embedder("vectors").expect("the embedder");
    assert_eq!(e.timeout(), std::time::Duration::from_secs(5));
    // 0.02 dollars per million tokens: a million tokens cost 20,000 millionths.
    assert_eq!(e.cost_micros(1_000_000), 20_000);
    assert!(models.embedder("gpt").is_none());
}
