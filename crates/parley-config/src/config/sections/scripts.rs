//! `scripts:`: the threads and queue flow scripts run on.

use serde::Deserialize;

/// Where flow scripts (and `if`/`switch`/`set` expressions) run: threads of their own
/// behind a bounded queue, so scripts never delay taking webhooks in.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptsConfig {
    /// Threads that run scripts (0: one per CPU core but one, at least one).
    #[serde(default)]
    pub threads: usize,
    /// Scripts that may wait for a free thread; one more fails its step at once
    /// (`on_error`).
    #[serde(default = "default_script_queue")]
    pub queue: usize,
}

impl Default for ScriptsConfig {
    fn default() -> Self {
        Self {
            threads: 0,
            queue: default_script_queue(),
        }
    }
}

/// Small on purpose: a conversation whose script waits holds one of the inbox's
/// `inbox.concurrency` slots, so a long queue of heavy scripts would delay everyone's
/// replies; beyond it, script steps fail at once and take `on_error`.
fn default_script_queue() -> usize {
    16
}
