//! A Standard Webhooks endpoint (`events.endpoints[]`): each event is POSTed as its JSON
//! payload with `webhook-id` (the event's, the same on every attempt), `webhook-timestamp`
//! (the attempt's, unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256>` of
//! `{id}.{timestamp}.{body}` under each current secret, space-separated, so a receiver that
//! knows any one of them verifies it while secrets are rotated).
//!
//! The request goes through the same network guard as `http` steps (internal addresses
//! refused unless `flows.allow_private_networks`), follows no redirect, is bounded by the
//! endpoint's `timeout`, and at most `HTTP_ANSWER_MAX` of the answer is read.

use super::deliver::{Deliverer, Outcome};
use crate::config::EventEndpointConfig;
use crate::domain::{OutEvent, OutEventKind};
use crate::net;
use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

mod spans;

/// Most of an endpoint's answer kept in the delivery log.
const ERROR_TEXT_MAX: usize = 500;

pub struct WebhookEndpoint {
    name: String,
    url: reqwest::Url,
    keys: Vec<Vec<u8>>,
    kinds: Option<Vec<OutEventKind>>,
    senders: Vec<i64>,
    timeout: Duration,
    allow_private: bool,
    client: reqwest::Client,
    /// Each delivery's span, its `traceparent` sent (`telemetry:`); off by default.
    tracer: crate::telemetry::Tracer,
}

impl WebhookEndpoint {
    /// The endpoint of a validated config entry (`None` when its URL does not parse, which
    /// validation already refused).
    pub fn new(cfg: &EventEndpointConfig, allow_private: bool) -> Option<Self> {
        let url = reqwest::Url::parse(&cfg.url).ok()?;
        let client = net::client_builder(allow_private, 0)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(5)))
            .timeout(cfg.timeout)
            .build()
            .ok()?;
        Some(Self {
            name: cfg.name.clone(),
            url,
            keys: cfg
                .secrets
                .iter()
                .filter_map(|s| crate::config::secret_bytes(s))
                .collect(),
            kinds: cfg.kinds(),
            senders: cfg.senders.clone(),
            timeout: cfg.timeout,
            allow_private,
            client,
            tracer: Default::default(),
        })
    }

    /// Records each delivery's span and sends its `traceparent`.
    pub fn with_tracer(mut self, tracer: crate::telemetry::Tracer) -> Self {
        self.tracer = tracer;
        self
    }
}

/// The `webhook-signature` header: `v1,<signature>` under each key, space-separated.
pub fn signature(keys: &[Vec<u8>], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body);
            let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            format!("v1,{sig}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[async_trait]
impl Deliverer for WebhookEndpoint {
    fn name(&self) -> &str {
        &self.name
    }

    fn wants(&self, kind: OutEventKind, sender_id: Option<i64>) -> bool {
        let kind_ok = self.kinds.as_ref().is_none_or(|k| k.contains(&kind));
        let sender_ok =
            self.senders.is_empty() || sender_id.is_none_or(|s| self.senders.contains(&s));
        kind_ok && sender_ok
    }

    async fn deliver(&self, event: &OutEvent, attempt: u32) -> Outcome {
        let Some(span) = spans::begin(&self.tracer, &self.name, event, attempt) else {
            return self.post(event, None).await;
        };
        let outcome = self.post(event, Some(span.context().traceparent())).await;
        spans::finish(&self.tracer, span, &outcome);
        outcome
    }
}

impl WebhookEndpoint {
    /// POSTs the event, with `traceparent` when its delivery is traced.
    async fn post(&self, event: &OutEvent, traceparent: Option<String>) -> Outcome {
        if !self.allow_private {
            if let Err(refused) = net::Guard::system().check_url(&self.url) {
                return Outcome::Retry {
                    status: None,
                    error: format!("{refused}; endpoints on internal addresses need flows.allow_private_networks: true"),
                };
            }
        }
        let body = event.payload().to_string().into_bytes();
        let id = event.webhook_id();
        // The attempt's real time, whatever clock schedules the retries: receivers refuse
        // timestamps far from their own clock.
        let timestamp = chrono::Utc::now().timestamp();
        let request = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("user-agent", concat!("parley/", env!("CARGO_PKG_VERSION")))
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature(&self.keys, &id, timestamp, &body),
            )
            .body(body);
        let request = match traceparent {
            Some(t) => request.header("traceparent", t),
            None => request,
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    status: None,
                    error: self.failure(&e),
                }
            }
        };
        let status = response.status().as_u16();
        let answer = tokio::time::timeout(
            self.timeout,
            net::read_limited(response, crate::domain::limits::HTTP_ANSWER_MAX),
        )
        .await;
        let text = match answer {
            Ok(Ok(bytes)) => short(&String::from_utf8_lossy(&bytes)),
            Ok(Err(e)) => format!("reading the answer failed: {e}"),
            Err(_) => format!(
                "the answer did not arrive within {}",
                humantime::format_duration(self.timeout)
            ),
        };
        classify(status, text)
    }
}

impl WebhookEndpoint {
    fn failure(&self, e: &reqwest::Error) -> String {
        let host = self.url.host_str().unwrap_or_default();
        if let Some(refused) = net::refusal(e) {
            format!("calling {host} was refused: {refused}")
        } else if e.is_timeout() {
            format!(
                "{host} did not answer within {}",
                humantime::format_duration(self.timeout)
            )
        } else {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            format!("calling {host} failed: {text}")
        }
    }
}

/// 2xx: delivered; 410 Gone: the receiver says never again (parked); anything else is
/// tried again on the schedule.
fn classify(status: u16, answer: String) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered {
            status: Some(status),
        },
        410 => Outcome::Park {
            status: Some(status),
            error: format!("410 Gone: the endpoint asked for no more deliveries {answer}")
                .trim_end()
                .to_string(),
        },
        _ => Outcome::Retry {
            status: Some(status),
            error: format!("answered {status} {answer}").trim_end().to_string(),
        },
    }
}

fn short(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(ERROR_TEXT_MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks spec (and its reference libraries' tests).
    #[test]
    fn signs_the_spec_example() {
        let key = crate::config::secret_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&[key], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn every_secret_signs_separated_by_spaces() {
        let sig = signature(&[vec![1; 32], vec![2; 32]], "evt_1", 1, b"{}");
        let parts: Vec<&str> = sig.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn two_hundreds_deliver_gone_parks_the_rest_retries() {
        assert_eq!(
            classify(204, String::new()),
            Outcome::Delivered { status: Some(204) }
        );
        assert!(matches!(
            classify(410, String::new()),
            Outcome::Park {
                status: Some(410),
                ..
            }
        ));
        for s in [400, 401, 404, 429, 500, 503] {
            assert!(
                matches!(classify(s, "x".into()), Outcome::Retry { .. }),
                "{s}"
            );
        }
        assert_eq!(short(&"é".repeat(600)).chars().count(), ERROR_TEXT_MAX + 1);
    }
}
