//! `api_keys:`: who may call the APIs (keys stored as SHA-256), and what each may do
//! (`scopes`).

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
    /// existed). `[inbox]`: only the inbox page's calls (`/api/inbox/…`: list the
    /// conversations handed to a person, read one, reply, send a template, release), the
    /// key to give a person who answers customers; every other `/api` route answers it 403.
    #[serde(default)]
    pub scopes: Option<Vec<ApiScope>>,
}

/// A permission an API key may be given in `api_keys[].scopes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiScope {
    /// The inbox page (`/inbox`) and its calls under `/api/inbox/`: answer the customers of
    /// conversations handed to a person, and release them back to the bot.
    Inbox,
}

impl ApiScope {
    pub fn as_str(&self) -> &'static str {
        match self {
            ApiScope::Inbox => "inbox",
        }
    }

    /// Whether a key with this scope may call the API route at `path`.
    pub fn allows(&self, path: &str) -> bool {
        match self {
            ApiScope::Inbox => path.starts_with("/api/inbox/"),
        }
    }
}

impl ApiKeyConfig {
    /// Whether this key may call the API route at `path`: every route without `scopes`,
    /// else the routes one of its scopes allows.
    pub fn allows(&self, path: &str) -> bool {
        match &self.scopes {
            None => true,
            Some(scopes) => scopes.iter().any(|s| s.allows(path)),
        }
    }
}

/// Each key must be a SHA-256 in hex; `scopes`, when given, must name something.
pub(crate) fn api_key_problems(api_keys: &[ApiKeyConfig], problems: &mut Vec<String>) {
    for (i, key) in api_keys.iter().enumerate() {
        let ok =
            key.key_sha256.len() == 64 && key.key_sha256.chars().all(|c| c.is_ascii_hexdigit());
        if !ok {
            problems.push(format!(
                "api_keys[{i}].key_sha256: must be 64 hex characters (run `parley keygen`)"
            ));
        }
        if key.scopes.as_ref().is_some_and(Vec::is_empty) {
            problems.push(format!(
                "api_keys[{i}].scopes: an empty list would let the key do nothing: leave `scopes` out for a key that may call every route, or name a scope (inbox)"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scopes: Option<Vec<ApiScope>>) -> ApiKeyConfig {
        ApiKeyConfig {
            name: "ana".into(),
            key_sha256: "0".repeat(64),
            scopes,
        }
    }

    #[test]
    fn a_key_without_scopes_may_call_everything_an_inbox_key_only_the_inbox() {
        assert!(key(None).allows("/api/conversations"));
        assert!(key(None).allows("/api/inbox/conversations"));
        let inbox = key(Some(vec![ApiScope::Inbox]));
        assert!(inbox.allows("/api/inbox/conversations"));
        assert!(inbox.allows("/api/inbox/conversations/7/reply"));
        assert!(!inbox.allows("/api/conversations"));
        assert!(!inbox.allows("/api/inboxes"));
        assert!(!inbox.allows("/api/user/whatsapp/send"));
    }

    #[test]
    fn scopes_are_read_and_an_unknown_one_is_named() {
        let load = |text: &str| crate::config::Config::from_yaml(text, "parley.yaml", &|_| None);
        let zeros = "0".repeat(64);
        let ok = load(&format!(
            "api_keys:\n  - {{ name: ana, key_sha256: \"{zeros}\", scopes: [inbox] }}\n  - {{ name: crm, key_sha256: \"{zeros}\" }}\n"
        ))
        .unwrap();
        assert_eq!(ok.api_keys[0].scopes, Some(vec![ApiScope::Inbox]));
        assert_eq!(ok.api_keys[1].scopes, None);
        let refused = load(&format!(
            "api_keys:\n  - {{ name: ana, key_sha256: \"{zeros}\", scopes: [inbox, admin] }}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            refused.contains("api_keys[0].scopes[1]: unknown variant `admin`, expected `inbox`"),
            "{refused}"
        );
    }

    #[test]
    fn an_empty_scope_list_is_a_problem() {
        let mut problems = Vec::new();
        api_key_problems(&[key(Some(vec![]))], &mut problems);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("api_keys[0].scopes: "),
            "{problems:?}"
        );
    }
}
