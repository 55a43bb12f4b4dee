//! `broadcasts:`, `portfolios:` and `marketing:`: how broadcasts are paged and paced, the
//! business portfolios' messaging limits (`senders[].portfolio` names one), and the regions
//! marketing templates are held back from.

use super::default_lease;
use crate::config::duration::de_duration;
use crate::domain::broadcast::MessagingLimit;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastsConfig {
    /// How often an idle broadcast worker looks for a broadcast to send.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_poll", deserialize_with = "de_duration")]
    pub poll_interval: Duration,
    /// Recipients materialised, and sends queued, per transaction.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// A broadcast waits while its sender has more than this much work pending.
    #[serde(default = "default_max_backlog")]
    pub max_backlog: u32,
    /// How long a process owns a broadcast before another may take it over.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_lease", deserialize_with = "de_duration")]
    pub lease: Duration,
    /// How long after a broadcast message a customer's reply starts its `reply_flow`.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_reply_window", deserialize_with = "de_duration")]
    pub reply_window: Duration,
}

impl Default for BroadcastsConfig {
    fn default() -> Self {
        Self {
            poll_interval: default_poll(),
            page_size: default_page_size(),
            max_backlog: default_max_backlog(),
            lease: default_lease(),
            reply_window: default_reply_window(),
        }
    }
}

impl BroadcastsConfig {
    pub fn problems(&self, problems: &mut Vec<String>) {
        if self.page_size == 0 || self.page_size > 5_000 {
            problems.push("broadcasts.page_size: must be between 1 and 5000".into());
        }
        if self.max_backlog == 0 {
            problems.push("broadcasts.max_backlog: must be at least 1".into());
        }
        if self.lease < Duration::from_secs(1) {
            problems.push("broadcasts.lease: must be at least 1s".into());
        }
    }
}

fn default_poll() -> Duration {
    Duration::from_secs(1)
}
fn default_page_size() -> u32 {
    200
}
/// Small: a customer's reply queued while a broadcast sends waits behind at most this many
/// messages (plus a page), and at WhatsApp's 80 messages a second each 80 is a second.
fn default_max_backlog() -> u32 {
    300
}
fn default_reply_window() -> Duration {
    Duration::from_secs(24 * 3600)
}

/// One business portfolio (Meta's business account) and its messaging limit.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PortfolioConfig {
    /// The portfolio's name, as senders name it (`senders[].portfolio`).
    pub id: String,
    /// `250 | 2000 | 10000 | 100000 | unlimited`.
    #[serde(deserialize_with = "de_limit")]
    #[schemars(schema_with = "limit_schema")]
    pub messaging_limit: MessagingLimit,
}

/// `messaging_limit`'s JSON Schema: one of WhatsApp's tiers, or `unlimited`.
fn limit_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "anyOf": [
            { "enum": MessagingLimit::TIERS },
            { "type": "string", "pattern": "^\\s*(unlimited|250|2[,_]?000|10[,_]?000|100[,_]?000)\\s*$" },
        ]
    })
}

fn de_limit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<MessagingLimit, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    let s = match Raw::deserialize(d)? {
        Raw::Number(n) => n.to_string(),
        Raw::Text(s) => s,
    };
    MessagingLimit::parse(&s).map_err(serde::de::Error::custom)
}

/// `marketing:`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketingConfig {
    /// Calling codes (`"1"`: the US and Canada) that marketing templates are not sent to,
    /// because Meta paused them there (US numbers since 2025-04-01).
    #[serde(default = "default_hold_regions")]
    pub hold_regions: Vec<String>,
}

impl Default for MarketingConfig {
    fn default() -> Self {
        Self {
            hold_regions: default_hold_regions(),
        }
    }
}

impl MarketingConfig {
    pub fn problems(&self, problems: &mut Vec<String>) {
        for (i, cc) in self.hold_regions.iter().enumerate() {
            if cc.is_empty() || cc.len() > 4 || !cc.bytes().all(|b| b.is_ascii_digit()) {
                problems.push(format!(
                    "marketing.hold_regions[{i}]: `{cc}` is not a calling code like \"1\" or \"44\" (digits, no +)"
                ));
            }
        }
    }
}

fn default_hold_regions() -> Vec<String> {
    vec!["1".into()]
}

/// Every portfolio id once, and every sender's `portfolio` declared.
pub(crate) fn portfolio_problems(
    portfolios: &[PortfolioConfig],
    senders: &[super::senders::SenderConfig],
    problems: &mut Vec<String>,
) {
    let mut seen = std::collections::HashSet::new();
    for (i, p) in portfolios.iter().enumerate() {
        if p.id.trim().is_empty() || p.id.len() > 100 {
            problems.push(format!("portfolios[{i}].id: must be 1 to 100 characters"));
        }
        if !seen.insert(p.id.as_str()) {
            problems.push(format!("portfolios[{i}].id: `{}` is declared twice", p.id));
        }
    }
    for (i, s) in senders.iter().enumerate() {
        if let Some(name) = &s.portfolio {
            if !seen.contains(name.as_str()) {
                problems.push(format!(
                    "senders[{i}].portfolio: `{name}` is not under `portfolios:`; declare it with its messaging_limit"
                ));
            }
        }
    }
}
