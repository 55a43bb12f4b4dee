//! Layer 3 of Parley: the language models `agent` steps call (OpenAI-compatible,
//! Anthropic, a scripted model) and voice-note transcription.
//!
//! The crates below are imported at the root under their module names, so a path reads
//! the same in every crate (`crate::domain::Phone`).

use parley_config::config;
use parley_domain::{domain, metrics, net, telemetry};

pub mod models;
