//! The `chatwoot:` section: the bridge that mirrors conversations into a Chatwoot inbox and
//! sends what its agents write through Parley.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatwootConfig {
    /// Chatwoot's address (`https://chatwoot.example.com`).
    pub url: String,
}
