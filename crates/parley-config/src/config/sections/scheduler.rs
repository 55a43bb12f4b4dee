//! `scheduler:`: how scheduled flows are fired and paged through their audience.

use super::default_lease;
use crate::config::duration::de_duration;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// How often schedules are checked for due fires.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_scheduler_poll", deserialize_with = "de_duration")]
    pub poll_interval: Duration,
    /// Contacts read per page of an audience run.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// A run waits while its sender has more than this much work pending (pacing).
    #[serde(default = "default_max_backlog")]
    pub max_backlog: u32,
    /// How long a process owns an audience run before another may take it over.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_lease", deserialize_with = "de_duration")]
    pub lease: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            poll_interval: default_scheduler_poll(),
            page_size: default_page_size(),
            max_backlog: default_max_backlog(),
            lease: default_lease(),
        }
    }
}

fn default_scheduler_poll() -> Duration {
    Duration::from_secs(1)
}
fn default_page_size() -> u32 {
    500
}
fn default_max_backlog() -> u32 {
    2000
}
