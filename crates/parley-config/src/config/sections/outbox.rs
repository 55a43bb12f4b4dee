//! `outbox:`: the workers that send, and the retry schedule.

use super::{default_lease, default_poll};
use crate::config::duration::de_duration;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Sends in flight at the same time from this process.
    #[serde(default = "default_outbox_concurrency")]
    pub concurrency: usize,
    /// How long a send is owned by the process making it; never less than twice `send_timeout`.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_lease", deserialize_with = "de_duration")]
    pub lease: Duration,
    /// How often to look for sends other processes left.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_poll", deserialize_with = "de_duration")]
    pub poll_interval: Duration,
    /// Timeout of one provider request.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_send_timeout", deserialize_with = "de_duration")]
    pub send_timeout: Duration,
    /// Retries on 429, 5xx, timeouts, 130429 and 131056: exponential from `initial` up to
    /// `max_delay`, with jitter, honouring Retry-After.
    #[serde(default)]
    pub retry: RetryConfig,
    /// A send whose answer never came (a timeout, or its process died while it was in
    /// flight: the provider may have taken it) is tried again only after this long, time for a
    /// status webhook naming it (Meta echoes the
    /// outbox id Parley tags each send with) to show it was accepted.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(
        default = "default_unknown_outcome_wait",
        deserialize_with = "de_duration"
    )]
    pub unknown_outcome_wait: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            concurrency: default_outbox_concurrency(),
            lease: default_lease(),
            poll_interval: default_poll(),
            send_timeout: default_send_timeout(),
            retry: RetryConfig::default(),
            unknown_outcome_wait: default_unknown_outcome_wait(),
        }
    }
}

fn default_unknown_outcome_wait() -> Duration {
    Duration::from_secs(60)
}

fn default_outbox_concurrency() -> usize {
    64
}
fn default_send_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Retry schedule as data: exponential from `initial`, capped at `max_delay`, with full
/// jitter, for at most `max_attempts` tries or `give_up_after` in total.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// The first wait before a retry.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_retry_initial", deserialize_with = "de_duration")]
    pub initial: Duration,
    /// The longest wait between two tries.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_retry_max", deserialize_with = "de_duration")]
    pub max_delay: Duration,
    /// Given up after this many tries.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Given up this long after the message was queued.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_give_up", deserialize_with = "de_duration")]
    pub give_up_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial: default_retry_initial(),
            max_delay: default_retry_max(),
            max_attempts: default_max_attempts(),
            give_up_after: default_give_up(),
        }
    }
}

fn default_retry_initial() -> Duration {
    Duration::from_millis(500)
}
fn default_retry_max() -> Duration {
    Duration::from_secs(60)
}
fn default_max_attempts() -> u32 {
    50
}
fn default_give_up() -> Duration {
    Duration::from_secs(6 * 3600)
}
