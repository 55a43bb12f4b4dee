//! `inbox:`: the workers that run conversations.

use super::{default_lease, default_poll};
use crate::config::duration::de_duration;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InboxConfig {
    /// Conversations processed at the same time by this process.
    #[serde(default = "default_inbox_concurrency")]
    pub concurrency: usize,
    /// How long a process owns a conversation it is working on before another may take it.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_lease", deserialize_with = "de_duration")]
    pub lease: Duration,
    /// How often to look for work left by other processes (local work wakes at once).
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_poll", deserialize_with = "de_duration")]
    pub poll_interval: Duration,
    /// Quiet period that collapses a burst of texts from one contact into one message
    /// (0s: off). A flow's own `debounce:` wins inside that flow.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default, deserialize_with = "de_duration")]
    pub debounce: Duration,
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self {
            concurrency: default_inbox_concurrency(),
            lease: default_lease(),
            poll_interval: default_poll(),
            debounce: Duration::ZERO,
        }
    }
}

fn default_inbox_concurrency() -> usize {
    64
}
