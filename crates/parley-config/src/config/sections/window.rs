//! `window:`: the customer-service window rule.

use crate::config::duration::de_duration;
use crate::domain::WindowPolicy;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// How long free-form messages are allowed after the customer's last message.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_window", deserialize_with = "de_duration")]
    pub duration: Duration,
    /// Treat the window as closed this much earlier, so late sends never bounce.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default, deserialize_with = "de_duration")]
    pub safety_margin: Duration,
    /// Emulate the hosted platforms (the `/api/user/whatsapp` API): an accepted template
    /// opens a window for the API's session status and free-form checks. Meta's rule
    /// (default false) is that it does not.
    #[serde(default)]
    pub template_opens_window: bool,
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self {
            duration: default_window(),
            safety_margin: Duration::ZERO,
            template_opens_window: false,
        }
    }
}

impl WindowConfig {
    pub fn policy(&self) -> WindowPolicy {
        WindowPolicy {
            duration: chrono::Duration::from_std(self.duration).unwrap_or(chrono::Duration::MAX),
            safety_margin: chrono::Duration::from_std(self.safety_margin).unwrap_or_default(),
        }
    }
}

fn default_window() -> Duration {
    Duration::from_secs(24 * 3600)
}

impl WindowConfig {
    /// The checks of this section alone; each problem starts with the key's path.
    pub(crate) fn problems(&self, problems: &mut Vec<String>) {
        if self.duration.is_zero() {
            problems.push("window.duration: must be longer than zero".into());
        }
        if self.safety_margin >= self.duration {
            problems.push("window.safety_margin: must be shorter than window.duration".into());
        }
    }
}
