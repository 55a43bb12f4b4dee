//! OpenAI-compatible embeddings (`POST {base_url}/embeddings`, `{ "model", "input": [...] }`
//! answered with `data[i].embedding`): the vectors an `agent` step's passages and a
//! customer's question are compared by. Calls go through the same `Transport` as the chat
//! models (timeout, retries, calls in flight, the answer bound); texts go in batches of at
//! most [`BATCH_MAX`], and every vector must have the same length and finite numbers, or
//! the call fails with that said.

use super::client::{Body, Transport};
use super::ModelError;
use crate::domain::chat::{Prices, Usage, MAX_COST_MICROS_PER_CALL, MAX_TOKENS_PER_CALL};
use serde_json::{json, Value};
use std::time::Duration;

/// Texts sent in one request.
pub const BATCH_MAX: usize = 64;

/// The longest vector read: the largest embedding models give 3,072 numbers.
pub const DIMENSIONS_MAX: usize = 8_192;

/// An embedding model's client.
pub struct Embedder {
    transport: Transport,
    model: String,
    prices: Prices,
    timeout: Duration,
}

/// The vectors of some texts, with the input tokens the provider counted for them (0 when
/// it said nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    pub input_tokens: u64,
}

/// Where the requests go, for a configured `base_url`.
pub(crate) fn url(base_url: &str) -> String {
    format!("{}/embeddings", base_url.trim_end_matches('/'))
}

impl Embedder {
    /// The client of the embedding model `model` at `base_url` (named `name` in messages
    /// and metrics); `Err` says what is wrong with `base_url` or `api_key`.
    pub fn new(
        name: &str,
        base_url: &str,
        api_key: Option<&str>,
        model: &str,
        timeout: Duration,
        concurrency: usize,
        retries: u32,
    ) -> Result<Self, String> {
        let key = api_key.filter(|k| !k.is_empty()).map(str::to_string);
        let headers = match &key {
            Some(k) => vec![("authorization", format!("Bearer {k}"))],
            None => Vec::new(),
        };
        let transport = Transport::new(
            name,
            format!("embedding model `{name}`"),
            &url(base_url),
            timeout,
            concurrency,
            retries,
            headers,
            key,
        )?;
        Ok(Self {
            transport,
            model: model.to_string(),
            prices: Prices::default(),
            timeout,
        })
    }

    /// The same client, its calls priced at `prices` (`price_input` per million tokens).
    pub fn priced(mut self, prices: Prices) -> Self {
        self.prices = prices;
        self
    }

    /// The longest one call may take (the config's `timeout`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// What `input_tokens` cost, in millionths of a US dollar, capped like a chat call.
    pub fn cost_micros(&self, input_tokens: u64) -> u64 {
        let usage = Usage {
            input_tokens: input_tokens.min(MAX_TOKENS_PER_CALL),
            output_tokens: 0,
        };
        self.prices.cost_micros(usage).min(MAX_COST_MICROS_PER_CALL)
    }

    /// One vector per text of `texts`, in order, all of the same length.
    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ModelError> {
        self.embed_counted(texts).await.map(|e| e.vectors)
    }

    /// `embed`, with the input tokens the provider counted.
    pub async fn embed_counted(&self, texts: &[String]) -> Result<Embedded, ModelError> {
        let mut all: Vec<Vec<f32>> = Vec::with_capacity(texts.len());
        let mut tokens = 0u64;
        for batch in texts.chunks(BATCH_MAX) {
            let body = Body::json(&json!({ "model": self.model, "input": batch }))?;
            let answer = self.transport.post(body).await?;
            tokens = tokens.saturating_add(
                answer
                    .pointer("/usage/prompt_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    .min(MAX_TOKENS_PER_CALL),
            );
            let vectors =
                parse_answer(&answer, batch.len()).map_err(|what| self.transport.failed(&what))?;
            if let (Some(first), Some(v)) = (all.first(), vectors.first()) {
                if first.len() != v.len() {
                    return Err(self.transport.failed(&format!(
                        "answered vectors of {} numbers, then of {}",
                        first.len(),
                        v.len()
                    )));
                }
            }
            all.extend(vectors);
        }
        Ok(Embedded {
            vectors: all,
            input_tokens: tokens,
        })
    }
}

/// The vectors of an answer to `expected` texts, in the order of the texts (`index`
/// when every item gives one), or what is wrong with it.
pub(crate) fn parse_answer(answer: &Value, expected: usize) -> Result<Vec<Vec<f32>>, String> {
    let data = answer
        .get("data")
        .and_then(Value::as_array)
        .ok_or("answered without a `data` list of embeddings")?;
    if data.len() != expected {
        return Err(format!(
            "answered {} embeddings for {expected} texts",
            data.len()
        ));
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
    for (i, item) in data.iter().enumerate() {
        let at = match item.get("index") {
            None => i,
            Some(n) => n
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n < expected)
                .ok_or_else(|| format!("answered an embedding with index {n}"))?,
        };
        let numbers = item
            .get("embedding")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("answered item {i} without an `embedding` list of numbers"))?;
        if numbers.is_empty() || numbers.len() > DIMENSIONS_MAX {
            return Err(format!(
                "answered an embedding of {} numbers (1 to {DIMENSIONS_MAX} are read)",
                numbers.len()
            ));
        }
        let mut v = Vec::with_capacity(numbers.len());
        for n in numbers {
            match n.as_f64().map(|x| x as f32) {
                Some(x) if x.is_finite() => v.push(x),
                _ => {
                    return Err(format!(
                        "answered an embedding holding {n}, not a finite number"
                    ))
                }
            }
        }
        if slots[at].replace(v).is_some() {
            return Err(format!("answered index {at} twice"));
        }
    }
    let vectors: Vec<Vec<f32>> = slots.into_iter().flatten().collect();
    if let Some(first) = vectors.first() {
        if let Some(other) = vectors.iter().find(|v| v.len() != first.len()) {
            return Err(format!(
                "answered vectors of {} numbers and of {}",
                first.len(),
                other.len()
            ));
        }
    }
    Ok(vectors)
}

/// The cosine similarity of `a` and `b`, from -1 to 1; 0 when either is all zeros or
/// their lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    (dot / (na.sqrt() * nb.sqrt())).clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use std::sync::{Arc, Mutex};

    /// An OpenAI-compatible `/embeddings` double: each text's vector is its length and its
    /// count of the letter `a`; `bad` answers the body given instead.
    async fn serve(bad: Option<(u16, String)>) -> (Arc<Mutex<Vec<Value>>>, String) {
        let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
        let s = seen.clone();
        let app =
            axum::Router::new().fallback(move |uri: axum::http::Uri, body: axum::body::Bytes| {
                let seen = s.clone();
                let bad = bad.clone();
                async move {
                    let body: Value = serde_json::from_slice(&body).unwrap();
                    seen.lock()
                        .unwrap()
                        .push(json!({"path": uri.path(), "body": body}));
                    if let Some((code, text)) = bad {
                        return (StatusCode::from_u16(code).unwrap(), text).into_response();
                    }
                    let data: Vec<Value> = body["input"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .enumerate()
                        .map(|(i, t)| {
                            let t = t.as_str().unwrap();
                            let a = t.matches('a').count();
                            json!({"index": i, "embedding": [t.len() as f64, a as f64]})
                        })
                        .collect();
                    axum::Json(json!({"data": data})).into_response()
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (seen, url)
    }

    fn embedder(url: &str) -> Embedder {
        Embedder::new(
            "embedder",
            url,
            Some("sk-e"),
            "text-embedding-3-small",
            Duration::from_secs(5),
            2,
            0,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn texts_go_in_batches_of_64_and_come_back_in_order() {
        let (seen, url) = serve(None).await;
        let texts: Vec<String> = (0..130).map(|i| "a".repeat(i + 1)).collect();
        let vectors = embedder(&url).embed(&texts).await.unwrap();
        assert_eq!(vectors.len(), 130);
        assert_eq!(vectors[129], vec![130.0, 130.0]);
        let seen = seen.lock().unwrap();
        let sizes: Vec<usize> = seen
            .iter()
            .map(|s| s["body"]["input"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, vec![64, 64, 2]);
        assert_eq!(seen[0]["path"], "/v1/embeddings");
        assert_eq!(seen[0]["body"]["model"], "text-embedding-3-small");
    }

    #[tokio::test]
    async fn a_failing_server_is_an_error_that_names_the_model() {
        let (_, url) = serve(Some((400, "no such model".into()))).await;
        let e = embedder(&url).embed(&["hi".into()]).await.unwrap_err();
        assert!(e.to_string().contains("embedding model `embedder`"), "{e}");
    }

    #[test]
    fn answers_of_the_wrong_shape_are_named() {
        let one = |v: Value| json!({"data": [{"embedding": v}]});
        assert!(parse_answer(&json!({}), 1).unwrap_err().contains("`data`"));
        assert!(parse_answer(&one(json!([1.0])), 2)
            .unwrap_err()
            .contains("1 embeddings for 2"));
        assert!(parse_answer(&one(json!([])), 1)
            .unwrap_err()
            .contains("0 numbers"));
        assert!(parse_answer(&one(json!(["x"])), 1)
            .unwrap_err()
            .contains("not a finite number"));
        assert!(parse_answer(&one(json!([1e300])), 1)
            .unwrap_err()
            .contains("not a finite number"));
        let uneven = json!({"data": [{"embedding": [1.0]}, {"embedding": [1.0, 2.0]}]});
        assert!(parse_answer(&uneven, 2)
            .unwrap_err()
            .contains("of 1 numbers and of 2"));
        let twice =
            json!({"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [2.0]}]});
        assert!(parse_answer(&twice, 2).unwrap_err().contains("twice"));
        let swapped =
            json!({"data": [{"index": 1, "embedding": [1.0]}, {"index": 0, "embedding": [2.0]}]});
        assert_eq!(
            parse_answer(&swapped, 2).unwrap(),
            vec![vec![2.0], vec![1.0]]
        );
    }

    #[test]
    fn cosine_is_bounded_and_zero_for_empty_or_mismatched_vectors() {
        assert!((cosine(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-9);
        assert!(cosine(&[1.0, 0.0], &[0.0, 3.0]).abs() < 1e-9);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 1.0]), 0.0);
    }
}
