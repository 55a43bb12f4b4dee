//! The config's sections, one file each: its struct, its documented defaults and the checks
//! that need only its own keys. Checks across sections are in `config::types`
//! (`Config::validate`).

pub mod api;
pub mod api_keys;
pub mod broadcasts;
pub mod chatwoot;
pub mod database;
pub mod events;
pub mod flows;
pub mod http;
pub mod inbox;
pub mod log;
pub mod media;
pub mod models;
pub mod opt_out;
pub mod outbox;
pub mod pricing;
pub mod rate_limit;
pub mod retention;
pub mod sandbox;
pub mod scheduler;
pub mod scripts;
pub mod senders;
pub mod studio;
pub mod telemetry;
pub mod templates;
pub mod webhooks;
pub mod window;

use std::time::Duration;

fn default_true() -> bool {
    true
}

/// How long a worker holds a conversation, a send or a schedule before another may take it
/// (inbox, outbox, scheduler).
fn default_lease() -> Duration {
    Duration::from_secs(30)
}

/// How often an idle worker looks for work it was not woken for (inbox, outbox).
fn default_poll() -> Duration {
    Duration::from_millis(500)
}
