//! `webhooks:`: taking provider webhooks in (ack timeout, ingest queue, body size).

use crate::config::duration::de_duration;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Larger webhook bodies are refused with 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// A webhook not stored within this time is answered 503 (the provider retries it),
    /// so a database outage never holds providers' connections open.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_ack_timeout", deserialize_with = "de_duration")]
    pub ack_timeout: Duration,
    /// Webhook requests waiting to be stored at most; beyond it, 503 at once. Bounds the
    /// memory a database outage can take, whatever its length.
    #[serde(default = "default_ingest_queue")]
    pub max_waiting: usize,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_body(),
            ack_timeout: default_ack_timeout(),
            max_waiting: default_ingest_queue(),
        }
    }
}

fn default_ack_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_ingest_queue() -> usize {
    4096
}

fn default_max_body() -> usize {
    1024 * 1024
}
