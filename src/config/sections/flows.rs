//! `flows:`: where flow files and scripts are, and how they are loaded.

use super::default_true;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
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
}

impl Default for FlowsConfig {
    fn default() -> Self {
        Self {
            dir: default_flows_dir(),
            scripts_dir: default_scripts_dir(),
            hot_reload: true,
            allow_private_networks: false,
        }
    }
}

fn default_flows_dir() -> String {
    "flows".into()
}
fn default_scripts_dir() -> String {
    "scripts".into()
}
