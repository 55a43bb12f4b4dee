//! Configuration of the public API beyond keys and rate limits: how media URLs are checked
//! before a send is accepted (`api.media_check`) and the optional per-sender spend limit
//! (`senders[].spend_limit`) behind `INSUFFICIENT_BALANCE`.

use crate::config::duration::de_duration;
use crate::config::Config;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Media URLs of API sends are checked with a HEAD request before the send is accepted:
    /// type and size against WhatsApp's limits.
    #[serde(default)]
    pub media_check: MediaCheckConfig,
}

/// Media URLs of API sends are checked with a HEAD request (type and size against
/// WhatsApp's limits) before the send is accepted.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaCheckConfig {
    /// Off: media URLs are only checked for http(s); the provider judges the file.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Let the check reach private, loopback and link-local addresses (refused by default
    /// so the API cannot be used to probe internal services).
    #[serde(default)]
    pub allow_private_networks: bool,
    /// How long the HEAD request may take.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// What to do when the server cannot be asked (no answer, or an answer other than 2xx
    /// and 404/410): `accept` leaves the judgement to the provider, `refuse` rejects.
    #[serde(default)]
    pub when_unverifiable: Unverifiable,
}

impl Default for MediaCheckConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_private_networks: false,
            timeout: default_timeout(),
            when_unverifiable: Unverifiable::Accept,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unverifiable {
    #[default]
    Accept,
    Refuse,
}

fn yes() -> bool {
    true
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

/// A sender's budget: API sends are refused with 402 `INSUFFICIENT_BALANCE` once the
/// messages it has sent or queued in the current period would cost more than `amount` (in
/// the rate card's currency), each at its predicted price from the cost ledger.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpendLimit {
    /// API sends are refused (402) once this sender's messages would cost more than this in the
    /// period, in the rate card's currency.
    pub amount: f64,
    /// `month` (calendar month, UTC; default), `day` (UTC) or `total` (ever).
    #[serde(default)]
    pub period: SpendPeriod,
    /// No longer used (the rate card prices each message); still accepted, with a warning.
    #[serde(default)]
    pub prices: Prices,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpendPeriod {
    Day,
    #[default]
    Month,
    Total,
}

/// Flat prices by message kind. No longer used: the budget counts each message's predicted
/// price from the rate card. Still accepted so that existing files load (with a warning).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// No longer used (the rate card prices each message).
    #[serde(default)]
    pub text: f64,
    /// No longer used (the rate card prices each message).
    #[serde(default)]
    pub template: f64,
    /// Image, video, audio, document and sticker messages.
    #[serde(default)]
    pub media: f64,
    /// Reply buttons, lists and URL buttons.
    #[serde(default)]
    pub interactive: f64,
    /// No longer used (the rate card prices each message).
    #[serde(default)]
    pub location: f64,
}

impl SpendLimit {
    /// `amount` in micro-units of the rate card's currency (rounded to the nearest).
    pub fn amount_micros(&self) -> i64 {
        (self.amount * 1_000_000.0).round() as i64
    }
}

impl Prices {
    /// The price of a message of this stored kind (`OutboundContent::kind_name`).
    pub fn of(&self, kind: &str) -> f64 {
        match kind {
            "text" => self.text,
            "template" => self.template,
            "location" => self.location,
            "buttons" | "list" | "url_button" => self.interactive,
            _ => self.media,
        }
    }
}

impl Config {
    pub(crate) fn validate_api(&self, problems: &mut Vec<String>) {
        if self.api.media_check.timeout.is_zero() {
            problems.push("api.media_check.timeout: must be longer than zero".into());
        }
        for (i, s) in self.senders.iter().enumerate() {
            let Some(limit) = &s.spend_limit else {
                continue;
            };
            let at = format!("senders[{i}].spend_limit");
            if !(limit.amount.is_finite() && limit.amount >= 0.0) {
                problems.push(format!("{at}.amount: must be a number of at least 0"));
            }
            let p = &limit.prices;
            for (key, price) in [
                ("text", p.text),
                ("template", p.template),
                ("media", p.media),
                ("interactive", p.interactive),
                ("location", p.location),
            ] {
                if !(price.is_finite() && price >= 0.0) {
                    problems.push(format!("{at}.prices.{key}: must be a number of at least 0"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_group_kinds() {
        let p = Prices {
            text: 1.0,
            template: 2.0,
            media: 3.0,
            interactive: 4.0,
            location: 5.0,
        };
        assert_eq!(p.of("text"), 1.0);
        assert_eq!(p.of("template"), 2.0);
        assert_eq!(p.of("image"), 3.0);
        assert_eq!(p.of("media"), 3.0);
        assert_eq!(p.of("buttons"), 4.0);
        assert_eq!(p.of("url_button"), 4.0);
        assert_eq!(p.of("location"), 5.0);
    }

    #[test]
    fn negative_prices_and_amounts_are_refused() {
        let yaml = r#"
senders:
  - id: 1
    name: S
    channel: sandbox
    phone_number: "+15550000000"
    spend_limit: { amount: -1, prices: { text: -0.5 } }
api: { media_check: { timeout: 0s } }
"#;
        let err = Config::from_yaml(yaml, "t.yaml", &|_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("senders[0].spend_limit.amount"), "{err}");
        assert!(err.contains("senders[0].spend_limit.prices.text"), "{err}");
        assert!(err.contains("api.media_check.timeout"), "{err}");
    }
}
