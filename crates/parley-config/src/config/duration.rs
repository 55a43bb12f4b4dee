//! The one duration parser: config values, flow files, flow tests and the simulator all
//! read durations the human way (`24h`, `10m`, `500ms`, `1h 30m`) through [`parse`], which
//! also refuses any longer than [`LONGEST`], so no duration a person writes can overflow a
//! time it is added to.

use crate::domain::clock::{LONGEST, LONGEST_IN_WORDS};
use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// Why a text is not a duration Parley accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum DurationError {
    /// Not written like a duration.
    Invalid(humantime::DurationError),
    /// Longer than [`LONGEST`].
    TooLong,
}

impl std::fmt::Display for DurationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(e) => e.fmt(f),
            Self::TooLong => write!(
                f,
                "longer than the longest Parley accepts, {LONGEST_IN_WORDS}"
            ),
        }
    }
}

impl std::error::Error for DurationError {}

impl DurationError {
    /// The whole sentence about `s`, with how to fix it.
    pub fn describe(&self, s: &str) -> String {
        match self {
            Self::Invalid(e) => {
                format!("`{s}` is not a duration ({e}); write it like 24h, 10m, 30s or 500ms")
            }
            Self::TooLong => format!("`{s}` is {self}; write a shorter one"),
        }
    }
}

/// Reads a duration written the human way; surrounding spaces are ignored. Refuses one
/// longer than [`LONGEST`] (`10y` itself is accepted).
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    let d = humantime::parse_duration(s.trim()).map_err(DurationError::Invalid)?;
    if d > LONGEST {
        return Err(DurationError::TooLong);
    }
    Ok(d)
}

/// The config's message for a value that is not a duration.
fn not_a_duration(s: &str, e: DurationError) -> String {
    e.describe(s)
}

/// A duration setting's text. A bare number (`lease: 30`) is refused with the unit it
/// lacks, rather than serde's "invalid type: integer, expected a string".
struct DurationText(String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DurationText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration like 24h, 10m, 30s or 500ms")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<DurationText, E> {
                Ok(DurationText(s.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<DurationText, E> {
                Err(E::custom(no_unit(&n.to_string())))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<DurationText, E> {
                Err(E::custom(no_unit(&n.to_string())))
            }
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<DurationText, E> {
                Err(E::custom(no_unit(&n.to_string())))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The message for a number written without its unit.
fn no_unit(n: &str) -> String {
    format!("`{n}` has no unit; write it like {n}s (seconds), {n}m (minutes) or {n}h (hours)")
}

/// `deserialize_with` for a duration setting.
pub(crate) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let DurationText(s) = DurationText::deserialize(d)?;
    parse(&s).map_err(|e| serde::de::Error::custom(not_a_duration(&s, e)))
}

/// `deserialize_with` for a duration setting that may be left out or `null`.
pub(crate) fn de_opt_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    let Some(DurationText(s)) = Option::<DurationText>::deserialize(d)? else {
        return Ok(None);
    };
    parse(&s)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(not_a_duration(&s, e)))
}

/// The JSON Schema of a duration setting (`schema_with` for the config's schema): text
/// like `24h`, `10m`, `30s` or `500ms`.
pub fn schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "pattern": PATTERN,
        "patternErrorMessage": "a duration like 30s, 10m, 24h or 1h 30m",
    })
}

/// As [`schema`], for a duration that may be left out or `null`.
pub fn opt_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["string", "null"],
        "pattern": PATTERN,
        "patternErrorMessage": "a duration like 30s, 10m, 24h or 1h 30m",
    })
}

/// A duration as [`parse`] reads it, for editors: numbers with their units, like `1h 30m`.
pub const PATTERN: &str = r"^\s*([0-9]+\s*[A-Za-zµ]+\s*)+$";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_years_is_the_longest_duration() {
        assert_eq!(parse("10y"), Ok(LONGEST));
        assert_eq!(parse("3652d"), Ok(Duration::from_secs(3652 * 86_400)));
        assert_eq!(parse("10y 1s"), Err(DurationError::TooLong));
        assert_eq!(
            parse("500000y").unwrap_err().describe("500000y"),
            "`500000y` is longer than the longest Parley accepts, 10 years; write a shorter one"
        );
        // Past what humantime itself can hold: still a plain refusal, never a panic.
        assert!(parse("99999999999999999999y").is_err());
    }
}
