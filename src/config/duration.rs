//! The one duration parser: config values, flow files, flow tests and the simulator all
//! read durations the human way (`24h`, `10m`, `500ms`, `1h 30m`) through [`parse`].

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// Reads a duration written the human way; surrounding spaces are ignored.
pub fn parse(s: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(s.trim())
}

/// The config's message for a value that is not a duration.
fn not_a_duration(s: &str, e: humantime::DurationError) -> String {
    format!("`{s}` is not a duration ({e}); write it like 24h, 10m, 30s or 500ms")
}

/// `deserialize_with` for a duration setting.
pub(crate) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse(&s).map_err(|e| serde::de::Error::custom(not_a_duration(&s, e)))
}

/// `deserialize_with` for a duration setting that may be left out or `null`.
pub(crate) fn de_opt_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    let Some(s) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    parse(&s)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(not_a_duration(&s, e)))
}
