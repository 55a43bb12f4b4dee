//! `api_keys:`: who may call the APIs (keys stored as SHA-256), what each may do
//! (`scopes`), for which senders (`senders`) and until when (`expires`).
//!
//! Which scope each route needs is the HTTP layer's table (`http::api::scopes`); here are
//! only the names. Two entries may share a `name` (the old and the new hash while a key is
//! rotated): both are valid until the old one is removed from the config.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The key's name: it names the caller in logs and audit records (`studio.editors` lists
    /// names; a reply from the inbox page is recorded as written by it).
    pub name: String,
    /// Lowercase hex SHA-256 of the key (`parley keygen` prints both).
    pub key_sha256: String,
    /// What the key may do. Left out, the key may call every API route (as before scopes
    /// existed). Each route needs exactly one scope: `send`, `read`, `contacts`,
    /// `broadcasts`, `insights` (costs, model usage and the insights reports), `flows` (flows,
    /// rollouts, knowledge and the studio), `admin` (the audit log, events out, sender health
    /// checks) or `inbox` (the inbox page's calls under `/api/inbox/…`).
    #[serde(default)]
    pub scopes: Option<Vec<ApiScope>>,
    /// The senders (`senders[].id`) the key may send from and read the window of; left out,
    /// every sender.
    #[serde(default)]
    pub senders: Option<Vec<i64>>,
    /// The day the key stops working (`2027-01-01`: refused from 2027-01-01 00:00 UTC on), or
    /// an RFC 3339 instant (`2027-01-01T12:00:00Z`); left out, it never expires.
    #[serde(default)]
    pub expires: Option<String>,
}

/// A permission an API key may be given in `api_keys[].scopes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiScope {
    /// Send messages (free-form, templates, into a conversation) and release a handoff.
    Send,
    /// Read conversations, their messages and media, the window, senders and templates.
    Read,
    /// Import and export contacts.
    Contacts,
    /// Create, read, pause, resume and cancel broadcasts.
    Broadcasts,
    /// Costs, language-model usage and the insights reports (flows, experiments, scores,
    /// unanswered questions).
    Insights,
    /// Flows, their saves and rollouts, web knowledge, and the studio (`/studio/api/…`).
    Flows,
    /// The audit log, events out (deliveries, replay) and sender health checks.
    Admin,
    /// The inbox page (`/inbox`) and its calls under `/api/inbox/`: answer the customers of
    /// conversations handed to a person, and release them back to the bot.
    Inbox,
}

impl ApiScope {
    /// Every scope, in the order the documentation lists them.
    pub const ALL: [ApiScope; 8] = [
        ApiScope::Send,
        ApiScope::Read,
        ApiScope::Contacts,
        ApiScope::Broadcasts,
        ApiScope::Insights,
        ApiScope::Flows,
        ApiScope::Admin,
        ApiScope::Inbox,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ApiScope::Send => "send",
            ApiScope::Read => "read",
            ApiScope::Contacts => "contacts",
            ApiScope::Broadcasts => "broadcasts",
            ApiScope::Insights => "insights",
            ApiScope::Flows => "flows",
            ApiScope::Admin => "admin",
            ApiScope::Inbox => "inbox",
        }
    }

    /// The scope named `name` (`send`), as the config and `parley keygen --scope` spell it.
    pub fn parse(name: &str) -> Option<ApiScope> {
        ApiScope::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl ApiKeyConfig {
    /// Whether this key may do what `scope` allows: every key without `scopes`.
    pub fn has_scope(&self, scope: ApiScope) -> bool {
        self.scopes.as_ref().is_none_or(|s| s.contains(&scope))
    }

    /// Whether this key may send from (and read the window of) sender `id`.
    pub fn may_use_sender(&self, id: i64) -> bool {
        self.senders.as_ref().is_none_or(|s| s.contains(&id))
    }

    /// The instant the key stops working, when `expires` is set and well formed.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires.as_deref().and_then(parse_expiry)
    }
}

/// `2027-01-01` (its first instant, UTC) or an RFC 3339 instant.
pub fn parse_expiry(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(day.and_time(NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Each key must be a SHA-256 in hex; `scopes`, when given, must name something; `senders`
/// must be configured senders; `expires` must be a date; no hash twice.
pub(crate) fn api_key_problems(
    api_keys: &[ApiKeyConfig],
    sender_ids: &[i64],
    problems: &mut Vec<String>,
) {
    for (i, key) in api_keys.iter().enumerate() {
        let ok =
            key.key_sha256.len() == 64 && key.key_sha256.chars().all(|c| c.is_ascii_hexdigit());
        if !ok {
            problems.push(format!(
                "api_keys[{i}].key_sha256: must be 64 hex characters (run `parley keygen`)"
            ));
        }
        let same = |k: &ApiKeyConfig| k.key_sha256.eq_ignore_ascii_case(&key.key_sha256);
        if ok && api_keys[..i].iter().any(same) {
            problems.push(format!(
                "api_keys[{i}].key_sha256: the same hash is already an earlier entry's: one key is one entry (to rotate a key, give the new entry a new key from `parley keygen`)"
            ));
        }
        if key.scopes.as_ref().is_some_and(Vec::is_empty) {
            problems.push(format!(
                "api_keys[{i}].scopes: an empty list would let the key do nothing: leave `scopes` out for a key that may call every route, or name a scope ({})",
                scope_names()
            ));
        }
        match &key.senders {
            Some(ids) if ids.is_empty() => problems.push(format!(
                "api_keys[{i}].senders: an empty list would let the key send from no sender: leave `senders` out for every sender, or list sender ids"
            )),
            Some(ids) => {
                for id in ids.iter().filter(|id| !sender_ids.contains(id)) {
                    problems.push(format!(
                        "api_keys[{i}].senders: {id} is not the id of any entry of `senders`"
                    ));
                }
            }
            None => {}
        }
        if let Some(text) = &key.expires {
            if parse_expiry(text).is_none() {
                problems.push(format!(
                    "api_keys[{i}].expires: `{text}` is not a date: write the day the key stops working as 2027-01-01 (or an instant as 2027-01-01T12:00:00Z)"
                ));
            }
        }
    }
}

/// `send, read, …`: the scopes a key may be given.
pub fn scope_names() -> String {
    ApiScope::ALL.map(|s| s.as_str()).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scopes: Option<Vec<ApiScope>>) -> ApiKeyConfig {
        ApiKeyConfig {
            name: "ana".into(),
            key_sha256: "0".repeat(64),
            scopes,
            senders: None,
            expires: None,
        }
    }

    #[test]
    fn a_key_without_scopes_has_every_scope_a_key_with_scopes_only_those() {
        for scope in ApiScope::ALL {
            assert!(key(None).has_scope(scope));
            assert_eq!(ApiScope::parse(scope.as_str()), Some(scope));
        }
        let inbox = key(Some(vec![ApiScope::Inbox, ApiScope::Read]));
        assert!(inbox.has_scope(ApiScope::Inbox));
        assert!(inbox.has_scope(ApiScope::Read));
        assert!(!inbox.has_scope(ApiScope::Send));
        assert!(!inbox.has_scope(ApiScope::Admin));
        assert_eq!(ApiScope::parse("everything"), None);
    }

    #[test]
    fn senders_limit_a_key_and_expiry_reads_a_day_or_an_instant() {
        let mut k = key(None);
        assert!(k.may_use_sender(7));
        k.senders = Some(vec![1, 2]);
        assert!(k.may_use_sender(2));
        assert!(!k.may_use_sender(3));
        assert_eq!(k.expires_at(), None);
        k.expires = Some("2027-01-01".into());
        assert_eq!(
            k.expires_at().unwrap().to_rfc3339(),
            "2027-01-01T00:00:00+00:00"
        );
        k.expires = Some("2027-01-01T12:30:00+02:00".into());
        assert_eq!(
            k.expires_at().unwrap().to_rfc3339(),
            "2027-01-01T10:30:00+00:00"
        );
        k.expires = Some("next year".into());
        assert_eq!(k.expires_at(), None);
    }

    #[test]
    fn scopes_senders_and_expiry_are_read_and_an_unknown_scope_is_named() {
        let load = |text: &str| crate::config::Config::from_yaml(text, "parley.yaml", &|_| None);
        let zeros = "0".repeat(64);
        let ones = "1".repeat(64);
        let ok = load(&format!(
            "senders:\n  - {{ id: 3, name: S, channel: sandbox, phone_number: \"+15550000000\" }}\napi_keys:\n  - {{ name: ana, key_sha256: \"{zeros}\", scopes: [inbox, send], senders: [3], expires: 2027-01-01 }}\n  - {{ name: crm, key_sha256: \"{ones}\" }}\n"
        ))
        .unwrap();
        assert_eq!(
            ok.api_keys[0].scopes,
            Some(vec![ApiScope::Inbox, ApiScope::Send])
        );
        assert_eq!(ok.api_keys[0].senders, Some(vec![3]));
        assert!(ok.api_keys[0].expires_at().is_some());
        assert_eq!(ok.api_keys[1].scopes, None);
        let refused = load(&format!(
            "api_keys:\n  - {{ name: ana, key_sha256: \"{zeros}\", scopes: [inbox, everything] }}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            refused.contains("api_keys[0].scopes[1]: unknown variant `everything`, expected one of `send`, `read`"),
            "{refused}"
        );
    }

    #[test]
    fn empty_lists_unknown_senders_bad_dates_and_a_hash_twice_are_problems() {
        let mut problems = Vec::new();
        let mut bad = key(Some(vec![]));
        bad.senders = Some(vec![1, 9]);
        bad.expires = Some("soon".into());
        api_key_problems(&[key(None), bad], &[1], &mut problems);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("api_keys[1].key_sha256: the same hash"));
        assert!(problems[1].starts_with("api_keys[1].scopes: "));
        assert!(problems[2].contains("api_keys[1].senders: 9 is not the id"));
        assert!(problems[3].contains("api_keys[1].expires: `soon` is not a date"));
        problems.clear();
        let mut none = key(None);
        none.senders = Some(vec![]);
        api_key_problems(&[none], &[1], &mut problems);
        assert!(problems[0].starts_with("api_keys[0].senders: an empty list"));
    }
}
