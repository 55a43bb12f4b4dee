//! The language-model double (`--mix agent`, `--agent-waiting`): an axum server on loopback
//! in the benchmark process that speaks OpenAI chat completions
//! (`POST /v1/chat/completions`) and answers every call with the text of the last customer
//! message in it, so the reply that reaches the Graph API double carries the webhook's
//! number as an echoed keyword flow's does (`agent <seq>`). It answers at once, except a
//! message that starts with `slow` (a waiting agent's, `agents.rs`): that one is answered
//! after the run's model delay. Model speed is the variable here, not what is measured.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// The first word of a message whose answer waits for the model delay.
pub const SLOW: &str = "slow";

/// What the model double has been asked.
#[derive(Debug, Default)]
pub struct ModelCounts {
    /// Calls answered (at once or after the delay).
    pub answered: AtomicU64,
    /// Calls whose body was not a chat-completions request with a user message.
    pub malformed: AtomicU64,
    /// `slow` calls waiting out the delay now.
    pub waiting: AtomicU64,
}

pub struct ModelDouble {
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
    counts: Arc<ModelCounts>,
    delay: Duration,
}

struct ModelState {
    delay: Duration,
    counts: Arc<ModelCounts>,
}

impl ModelDouble {
    /// Starts the double; `delay` is how long a `slow` message's answer takes.
    pub async fn start(delay: Duration) -> anyhow::Result<Self> {
        let counts = Arc::new(ModelCounts::default());
        let state = Arc::new(ModelState {
            delay,
            counts: counts.clone(),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("parley-bench: the model double stopped: {e}");
            }
        });
        Ok(Self {
            addr,
            server,
            counts,
            delay,
        })
    }

    /// What to put in the model's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn counts(&self) -> &ModelCounts {
        &self.counts
    }

    /// The counts, for a task that outlives this borrow.
    pub fn counts_handle(&self) -> Arc<ModelCounts> {
        self.counts.clone()
    }

    /// How long a `slow` message's answer takes.
    pub fn delay(&self) -> Duration {
        self.delay
    }
}

impl Drop for ModelDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn completions(State(st): State<Arc<ModelState>>, body: Bytes) -> impl IntoResponse {
    let Some(text) = last_user_text(&body) else {
        st.counts.malformed.fetch_add(1, Relaxed);
        return (
            StatusCode::BAD_REQUEST,
            [(CONTENT_TYPE, "application/json")],
            r#"{"error":{"message":"no user message","type":"invalid_request_error"}}"#.to_string(),
        );
    };
    if text.split_whitespace().next() == Some(SLOW) {
        st.counts.waiting.fetch_add(1, Relaxed);
        // Decremented even if Parley hangs up mid-wait (the handler future is dropped).
        let _waiting = Waiting(&st.counts.waiting);
        tokio::time::sleep(st.delay).await;
    }
    st.counts.answered.fetch_add(1, Relaxed);
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json")],
        answer(&text, body.len()),
    )
}

/// Counts one waiting call for as long as it lives.
struct Waiting<'a>(&'a AtomicU64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// The text of the last `user` message of a chat-completions request.
fn last_user_text(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("messages")?
        .as_array()?
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(|r| r.as_str()) == Some("user"))?
        .get("content")?
        .as_str()
        .map(str::to_string)
}

/// A chat-completions answer saying `text`, with usage counted as four bytes a token.
fn answer(text: &str, request_bytes: usize) -> String {
    serde_json::json!({
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": "bench",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": text },
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": request_bytes / 4,
            "completion_tokens": text.len() / 4 + 1,
            "total_tokens": request_bytes / 4 + text.len() / 4 + 1
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn ask(double: &ModelDouble, text: &str) -> serde_json::Value {
        reqwest::Client::new()
            .post(format!("{}/chat/completions", double.base_url()))
            .json(&json!({
                "model": "bench",
                "max_tokens": 500,
                "messages": [
                    {"role": "system", "content": "Repeat the customer's message."},
                    {"role": "user", "content": "agent 1"},
                    {"role": "assistant", "content": "agent 1"},
                    {"role": "user", "content": text}
                ]
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The answer is OpenAI's shape and says the last customer message, so the reply
    /// carries the webhook's number to the Graph API double.
    #[tokio::test]
    async fn answers_with_the_last_customer_message_at_once() {
        let double = ModelDouble::start(Duration::from_secs(60)).await.unwrap();
        let started = std::time::Instant::now();
        let answer = ask(&double, "agent 12345").await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(answer["choices"][0]["message"]["role"], "assistant");
        assert_eq!(answer["choices"][0]["message"]["content"], "agent 12345");
        assert!(answer["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
        assert!(answer["usage"]["completion_tokens"].as_u64().unwrap() > 0);
        assert_eq!(double.counts().answered.load(Relaxed), 1);
    }

    /// A `slow` message is answered after the delay and counted as waiting meanwhile.
    #[tokio::test]
    async fn a_slow_message_waits_for_the_delay() {
        let double = Arc::new(
            ModelDouble::start(Duration::from_millis(2_000))
                .await
                .unwrap(),
        );
        let started = std::time::Instant::now();
        let call = tokio::spawn({
            let double = double.clone();
            async move { ask(&double, "slow 7").await }
        });
        // Counted as waiting once it arrives (a busy machine may take a while to deliver it),
        // well before the delay is over.
        while double.counts().waiting.load(Relaxed) == 0
            && started.elapsed() < Duration::from_millis(1_500)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(double.counts().waiting.load(Relaxed), 1);
        assert!(!call.is_finished());
        let answer = call.await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(2_000));
        assert_eq!(answer["choices"][0]["message"]["content"], "slow 7");
        assert_eq!(double.counts().waiting.load(Relaxed), 0);
    }

    #[tokio::test]
    async fn a_request_without_a_customer_message_is_refused_and_counted() {
        let double = ModelDouble::start(Duration::ZERO).await.unwrap();
        let status = reqwest::Client::new()
            .post(format!("{}/chat/completions", double.base_url()))
            .body("not json")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 400);
        assert_eq!(double.counts().malformed.load(Relaxed), 1);
    }
}
