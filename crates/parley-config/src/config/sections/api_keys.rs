//! `api_keys:`: who may call the APIs (keys stored as SHA-256).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The key's name: it names the caller in logs and audit records (`studio.editors` lists
    /// names).
    pub name: String,
    /// Lowercase hex SHA-256 of the key (`parley keygen` prints both).
    pub key_sha256: String,
}

/// Each key must be a SHA-256 in hex.
pub(crate) fn api_key_problems(api_keys: &[ApiKeyConfig], problems: &mut Vec<String>) {
    for (i, key) in api_keys.iter().enumerate() {
        let ok =
            key.key_sha256.len() == 64 && key.key_sha256.chars().all(|c| c.is_ascii_hexdigit());
        if !ok {
            problems.push(format!(
                "api_keys[{i}].key_sha256: must be 64 hex characters (run `parley keygen`)"
            ));
        }
    }
}
