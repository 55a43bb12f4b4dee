//! The `chatwoot:` section: the bridge that mirrors conversations into a Chatwoot inbox and
//! sends what its agents write through Parley.

use crate::config::duration::de_duration;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatwootConfig {
    /// Chatwoot's address (`https://chatwoot.example.com`).
    pub url: String,
    /// The Chatwoot account the inbox belongs to (the number in
    /// `…/app/accounts/{account_id}/…`).
    pub account_id: i64,
    /// The API-channel inbox conversations are mirrored into (Settings → Inboxes → the
    /// inbox's number in its address).
    pub inbox_id: i64,
    /// The access token of the Chatwoot user (or agent bot) the bridge acts as (Profile
    /// settings → Access token); write it as `${CHATWOOT_API_TOKEN}`.
    pub api_access_token: String,
    /// The secret in the address Chatwoot's webhook calls:
    /// `{public_url}/webhooks/chatwoot/{webhook_token}`. At least 16 characters; write it
    /// as `${CHATWOOT_WEBHOOK_TOKEN}`.
    pub webhook_token: String,
    /// The webhook's signing secret, when your Chatwoot signs webhooks
    /// (`X-Chatwoot-Signature`, `X-Chatwoot-Timestamp`): then unsigned or stale calls are
    /// refused. `null`: the token in the address alone.
    #[serde(default)]
    pub webhook_secret: Option<String>,
    /// The senders (ids) whose conversations are mirrored; empty: all.
    #[serde(default)]
    pub senders: Vec<i64>,
    /// Which conversations are mirrored: `all` (every message from the first), or
    /// `handoffs` (from the moment a flow hands the conversation to a person).
    #[serde(default)]
    pub mirror: ChatwootMirror,
    /// Who a handed-over conversation is assigned to in Chatwoot (`team_id`,
    /// `assignee_id`); none: Chatwoot's own assignment rules decide.
    #[serde(default)]
    pub assign: ChatwootAssign,
    /// The template sent instead when an agent writes while WhatsApp's 24-hour window is
    /// closed (`{name, language}`, a template without variables). `null`: nothing is sent.
    /// Either way a private note in Chatwoot tells the agent what happened.
    #[serde(default)]
    pub closed_window_template: Option<ChatwootTemplate>,
    /// The longest one call to Chatwoot's API may take.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// The largest media file mirrored as an attachment; larger files are mirrored as a
    /// line naming them.
    #[serde(default = "default_max_attachment")]
    pub max_attachment_bytes: u64,
}

/// `chatwoot.mirror`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChatwootMirror {
    /// Every conversation, every message.
    #[default]
    All,
    /// Only conversations handed to a person, from the handoff on.
    Handoffs,
}

/// `chatwoot.assign`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatwootAssign {
    /// The Chatwoot team a handed-over conversation goes to.
    #[serde(default)]
    pub team_id: Option<i64>,
    /// The Chatwoot agent (user id) a handed-over conversation goes to.
    #[serde(default)]
    pub assignee_id: Option<i64>,
}

/// `chatwoot.closed_window_template`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatwootTemplate {
    /// The approved template's name.
    pub name: String,
    /// Its language code (`en_US`).
    pub language: String,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_max_attachment() -> u64 {
    40 * 1024 * 1024
}

impl ChatwootConfig {
    /// Whether conversations of `sender_id` are mirrored.
    pub fn mirrors_sender(&self, sender_id: Option<i64>) -> bool {
        self.senders.is_empty() || sender_id.is_some_and(|s| self.senders.contains(&s))
    }

    /// The section's problems, each starting with its key's path.
    pub fn problems(&self, problems: &mut Vec<String>) {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            problems.push(format!(
                "chatwoot.url: `{}` must start with http:// or https://",
                self.url
            ));
        }
        if self.webhook_token.chars().count() < 16 {
            problems.push(
                "chatwoot.webhook_token: must be at least 16 characters (`openssl rand -hex 16`)"
                    .into(),
            );
        }
        if self.api_access_token.trim().is_empty() {
            problems.push(
                "chatwoot.api_access_token: is empty; copy it from Chatwoot's Profile settings"
                    .into(),
            );
        }
        if self.account_id <= 0 || self.inbox_id <= 0 {
            problems.push("chatwoot.account_id and chatwoot.inbox_id: must be Chatwoot's ids (whole numbers from 1)".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> ChatwootConfig {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults_mirror_everything_and_bad_values_are_named() {
        let c = config("url: https://cw.example\naccount_id: 1\ninbox_id: 2\napi_access_token: t\nwebhook_token: 0123456789abcdef\n");
        assert_eq!(c.mirror, ChatwootMirror::All);
        assert!(c.mirrors_sender(Some(3)));
        assert_eq!(c.timeout, Duration::from_secs(10));
        let mut p = Vec::new();
        c.problems(&mut p);
        assert!(p.is_empty(), "{p:?}");
        let c = config("url: cw.example\naccount_id: 0\ninbox_id: 2\napi_access_token: ' '\nwebhook_token: short\nsenders: [1]\nmirror: handoffs\n");
        assert!(!c.mirrors_sender(Some(3)) && c.mirrors_sender(Some(1)));
        c.problems(&mut p);
        assert_eq!(p.len(), 4, "{p:?}");
    }
}
