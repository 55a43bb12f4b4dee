//! `rate_limit:`: the APIs' request rate.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests per second allowed per API key.
    #[serde(default = "default_rate")]
    pub per_second: u32,
    /// Requests a key may make at once before the per-second rate applies.
    #[serde(default = "default_rate")]
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_second: default_rate(),
            burst: default_rate(),
        }
    }
}

fn default_rate() -> u32 {
    5
}

impl RateLimitConfig {
    /// The checks of this section alone; each problem starts with the key's path.
    pub(crate) fn problems(&self, problems: &mut Vec<String>) {
        if self.per_second == 0 || self.burst == 0 {
            problems.push("rate_limit: per_second and burst must be at least 1".into());
        }
    }
}
