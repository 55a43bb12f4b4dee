//! What every model client shares: one HTTP client, the calls in flight per model (a
//! semaphore), the overall timeout of a call (its wait for a turn and its retries
//! included), retries of 429, 5xx and connection failures with exponential backoff and
//! jitter (a `Retry-After` respected when it fits in the time left), and answers read at
//! most [`MAX_ANSWER_BYTES`] and turned into JSON or a plain sentence.
//!
//! Model base URLs are the operator's config, so private addresses (Ollama on localhost)
//! are allowed; redirects are not followed, so a key never travels to another host.

use super::ModelError;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

tokio::task_local! {
    /// When the calling step's own `timeout` ends (`within`); a call's retries are weighed
    /// against the sooner of it and the model's timeout.
    static STEP_DEADLINE: (Instant, Duration);
}

/// Runs `call` (a model's `complete`) within `timeout`, the step's own time for it: a
/// retry's wait (a `Retry-After`, a backoff) that would outlast it is not waited for, and
/// the refusal names the step's configured time (`within 2s`), not the few nanoseconds
/// less that were left when the call began.
pub async fn within<F: std::future::Future>(timeout: Duration, call: F) -> F::Output {
    STEP_DEADLINE
        .scope((Instant::now() + timeout, timeout), call)
        .await
}

/// The largest answer read from a model or a transcription service.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// The deepest JSON `serde_json` reads (it refuses the 128th level).
const JSON_DEPTH: usize = 127;

/// The most of an error body quoted in a message.
const QUOTED_CHARS: usize = 200;
/// The longest failure `Transport::failed` words, after the model's label.
const FAILED_CHARS: usize = 400;

/// A call is not made with less of its time left than this, or than a quarter of it.
const MIN_CALL_TIME: Duration = Duration::from_secs(2);

/// The first backoff; each retry doubles it, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// The body of a request: JSON (already written), or bytes with their content type
/// (multipart).
#[derive(Clone)]
pub(crate) enum Body {
    Json(bytes::Bytes),
    Raw {
        content_type: String,
        bytes: bytes::Bytes,
    },
}

impl Body {
    /// `value` written as JSON.
    pub fn json(value: &impl serde::Serialize) -> Result<Self, ModelError> {
        serde_json::to_vec(value)
            .map(|bytes| Body::Json(bytes.into()))
            .map_err(|e| ModelError::Failed(format!("the request could not be written: {e}")))
    }
}

/// One configured endpoint's HTTP side: where it is, how it authenticates, its limits.
pub(crate) struct Transport {
    /// The model's configured name, for the retry metric and the log.
    pub name: String,
    /// Who failed, in messages: ``model `gpt` `` or `the transcription service`.
    label: String,
    http: reqwest::Client,
    /// Where every request goes, parsed once.
    url: reqwest::Url,
    permits: Arc<Semaphore>,
    pub timeout: Duration,
    retries: u32,
    headers: HeaderMap,
    /// The key, kept to scrub it from any error body that echoes it.
    secret: Option<String>,
}

impl Transport {
    /// `headers` are sent with every request to `url` (the key among them, marked
    /// sensitive). `Err` says what is wrong, for the config's `base_url` or `api_key`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        label: String,
        url: &str,
        timeout: Duration,
        concurrency: usize,
        retries: u32,
        headers: Vec<(&'static str, String)>,
        secret: Option<String>,
    ) -> Result<Self, String> {
        let url = reqwest::Url::parse(url)
            .map_err(|e| format!("base_url: `{url}` is not a URL Parley can call ({e})"))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let mut map = HeaderMap::new();
        for (key, value) in headers {
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                format!(
                    "api_key: `{key}` holds characters an HTTP header cannot carry (a line break?)"
                )
            })?;
            value.set_sensitive(true);
            map.insert(HeaderName::from_static(key), value);
        }
        Ok(Self {
            name: name.to_string(),
            label,
            http,
            url,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            timeout,
            retries,
            headers: map,
            secret: secret.filter(|s| !s.is_empty()),
        })
    }

    /// POSTs `body` to the endpoint and returns the answer as JSON, within the timeout,
    /// retrying what may pass.
    pub async fn post(&self, body: Body) -> Result<Value, ModelError> {
        let start = Instant::now();
        let mut deadline = start + self.timeout;
        // The time the refusal names: the configured one that ends the call first.
        let mut configured = self.timeout;
        if let Ok((step, step_timeout)) = STEP_DEADLINE.try_with(|d| *d) {
            if step < deadline {
                deadline = step;
                configured = step_timeout;
            }
        }
        match tokio::time::timeout_at(deadline, self.post_until(body, deadline)).await {
            Ok(result) => result,
            Err(_) => Err(ModelError::Timeout(configured)),
        }
    }

    async fn post_until(&self, body: Body, deadline: Instant) -> Result<Value, ModelError> {
        let queued = Instant::now();
        let budget = deadline.saturating_duration_since(queued);
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| self.failed("is shutting down"))?;
        // A call that waited for a slot until its time was nearly up is not made: its
        // answer would come too late to be used, and the provider would bill it anyway.
        let left = deadline.saturating_duration_since(Instant::now());
        if left < (budget / 4).min(MIN_CALL_TIME) {
            return Err(self.failed(&format!(
                "was not called: the call waited {:.1}s for one of the model's `concurrency` slots and too little of its timeout was left",
                queued.elapsed().as_secs_f64()
            )));
        }
        let mut attempt = 0u32;
        loop {
            let outcome = self.attempt(&body).await;
            let (error, asked_wait) = match outcome {
                Attempt::Done(result) => return result,
                Attempt::Again { error, retry_after } => (error, retry_after),
            };
            if attempt >= self.retries {
                return Err(error);
            }
            let wait = asked_wait.unwrap_or_else(|| backoff(attempt, rand::random::<f64>()));
            let left = deadline.saturating_duration_since(Instant::now());
            if wait >= left {
                // Waiting would outlast the call: say what the model said, not "timeout".
                return Err(match asked_wait {
                    Some(asked) => self.failed(&format!(
                        "asked to wait {}s before trying again (Retry-After), longer than the {}s left of its timeout; {}",
                        asked.as_secs(),
                        left.as_secs(),
                        error
                    )),
                    None => error,
                });
            }
            metrics::counter!(crate::metrics::MODEL_RETRIES, "model" => self.name.clone())
                .increment(1);
            tracing::debug!(model = %self.name, attempt, ?wait, %error, "model call retried");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, body: &Body) -> Attempt {
        let request = self
            .http
            .post(self.url.clone())
            .headers(self.headers.clone());
        // The model call's span (`telemetry:`), when the call is traced.
        let request = match crate::telemetry::traceparent() {
            Some(traceparent) => request.header("traceparent", traceparent),
            None => request,
        };
        let request = match body {
            Body::Json(bytes) => request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes.clone()),
            Body::Raw {
                content_type,
                bytes,
            } => request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes.clone()),
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Again {
                    error: self.failed(&format!("could not be reached: {}", reason(e))),
                    retry_after: None,
                }
            }
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let bytes = match crate::net::read_limited(response, MAX_ANSWER_BYTES).await {
            Ok(b) => b,
            Err(crate::net::BodyError::TooLarge { .. }) => {
                return Attempt::Done(Err(self.failed(&format!(
                    "sent an answer larger than {} MiB, the most Parley reads",
                    MAX_ANSWER_BYTES / (1024 * 1024)
                ))))
            }
            Err(crate::net::BodyError::Read(e)) => {
                return Attempt::Again {
                    error: self.failed(&format!("broke off its answer: {}", reason(e))),
                    retry_after: None,
                }
            }
        };
        if !status.is_success() {
            let error = self.failed(&format!(
                "answered HTTP {}{}",
                status.as_u16(),
                self.quote(&bytes)
            ));
            return if status.as_u16() == 429 || status.is_server_error() {
                Attempt::Again { error, retry_after }
            } else {
                Attempt::Done(Err(error))
            };
        }
        Attempt::Done(serde_json::from_slice(&bytes).map_err(|_| {
            // Deeper than serde_json reads is JSON all the same: say what is wrong with it.
            if crate::domain::chat::json_depth(&bytes) > JSON_DEPTH {
                self.failed(&format!(
                    "answered with JSON nested too deeply (more than {JSON_DEPTH} levels)"
                ))
            } else if let Err(e) = std::str::from_utf8(&bytes) {
                self.failed(&format!(
                    "answered with text that is not UTF-8 (byte {} is not), which JSON must be",
                    e.valid_up_to()
                ))
            } else {
                self.failed(&format!(
                    "answered with something that is not JSON{}",
                    self.quote(&bytes)
                ))
            }
        }))
    }

    /// `{label} {what}`, as a `ModelError::Failed`.
    /// The model's failure in words: `what` with the key scrubbed out (a provider or a
    /// proxy may echo it, with any status), then cut to [`FAILED_CHARS`] characters.
    pub fn failed(&self, what: &str) -> ModelError {
        let what = match &self.secret {
            Some(s) => what.replace(s.as_str(), "[the key]"),
            None => what.to_string(),
        };
        let cut: String = what.chars().take(FAILED_CHARS).collect();
        let more = if cut.len() < what.len() { "…" } else { "" };
        ModelError::Failed(format!("{} {cut}{more}", self.label))
    }

    /// `: "…"` with the first [`QUOTED_CHARS`] characters of a body, the key scrubbed out.
    fn quote(&self, bytes: &[u8]) -> String {
        let text = String::from_utf8_lossy(bytes);
        let text = match &self.secret {
            Some(s) => text.replace(s.as_str(), "[the key]"),
            None => text.into_owned(),
        };
        let text = text.trim();
        if text.is_empty() {
            return String::new();
        }
        let cut: String = text.chars().take(QUOTED_CHARS).collect();
        let more = if cut.len() < text.len() { "…" } else { "" };
        format!(": {cut}{more}")
    }
}

enum Attempt {
    Done(Result<Value, ModelError>),
    Again {
        error: ModelError,
        retry_after: Option<Duration>,
    },
}

/// The wait before retry `attempt` (0-based): doubling from [`FIRST_BACKOFF`] up to
/// [`MAX_BACKOFF`], then a random half of it taken off (`jitter` in 0..1) so callers that
/// failed together do not come back together.
pub(crate) fn backoff(attempt: u32, jitter: f64) -> Duration {
    let full = FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(MAX_BACKOFF);
    full.mul_f64(1.0 - 0.5 * jitter.clamp(0.0, 1.0))
}

/// `Retry-After` in seconds (the form model APIs use); an HTTP date is ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = text.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// A transport error in words, without the URL (which may carry a key in its query).
fn reason(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}
