//! `flows:`: where flow files and scripts are, and how they are loaded.

use super::default_true;
use crate::config::duration::de_duration;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowsConfig {
    /// Folder of flow files (`*.yaml`, sub-folders included).
    #[serde(default = "default_flows_dir")]
    pub dir: String,
    /// Folder of Rhai scripts that flows refer to.
    #[serde(default = "default_scripts_dir")]
    pub scripts_dir: String,
    /// Reload flows when their files change while Parley runs.
    #[serde(default = "default_true")]
    pub hot_reload: bool,
    /// Let `http` steps call private, loopback and link-local addresses (refused by default
    /// so a flow cannot reach internal services).
    #[serde(default)]
    pub allow_private_networks: bool,
    /// How often "typing…" is shown again while a `typing: true` flow's slow step runs;
    /// under WhatsApp's 25 s, after which the indicator disappears by itself.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_typing_renew", deserialize_with = "de_duration")]
    pub typing_renew: Duration,
}

impl FlowsConfig {
    pub(crate) fn problems(&self, problems: &mut Vec<String>) {
        let lifetime = crate::domain::limits::TYPING_INDICATOR_LIFETIME;
        if self.typing_renew.is_zero() || self.typing_renew >= lifetime {
            problems.push(format!(
                "flows.typing_renew: must be more than 0s and less than {}s, WhatsApp's typing indicator lifetime",
                lifetime.as_secs()
            ));
        }
    }
}

fn default_typing_renew() -> Duration {
    Duration::from_secs(20)
}

impl Default for FlowsConfig {
    fn default() -> Self {
        Self {
            dir: default_flows_dir(),
            scripts_dir: default_scripts_dir(),
            hot_reload: true,
            allow_private_networks: false,
            typing_renew: default_typing_renew(),
        }
    }
}

fn default_flows_dir() -> String {
    "flows".into()
}
fn default_scripts_dir() -> String {
    "scripts".into()
}
