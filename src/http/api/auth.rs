//! API keys and per-key rate limits. Keys come from `api_keys[].key_sha256`; their hashes
//! are decoded once when the router is built, so a request costs one SHA-256 of the
//! presented key and a constant-time comparison with every configured hash (no early exit,
//! so timing does not reveal which key came close). Each key has its own token bucket
//! (`governor`, `rate_limit.per_second` refilled, `rate_limit.burst` deep); a refusal is
//! 429 with `Retry-After` in whole seconds. Every refusal is logged with the key's name
//! when known, never with the key. With no key configured at all, the refusal says so and
//! how to add one: the usual reason for a 401 on a fresh install.
//!
//! A key with `scopes` may call only the routes its scopes allow (`[inbox]`: `/api/inbox/…`);
//! any other route answers it 403 `FORBIDDEN`, saying which scope the key has. A known key's
//! name goes into the request's extensions as a [`Caller`], so a handler can record who
//! acted (the inbox records who answered a customer).

use crate::config::{ApiKeyConfig, Config};
use crate::http::error::Error;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use std::num::NonZeroU32;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The 401 message when the config has no `api_keys`: no key can be right.
const NO_KEYS: &str = "No API keys are configured on this Parley, so every request is refused. To add one, run `parley keygen` and put the printed hash under `api_keys:` in the config, then restart Parley (`parley init` starts a new project with a key).";

/// The name of the API key a request came with (`api_keys[].name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

pub struct ApiAuth {
    /// Key names and their SHA-256, decoded once.
    keys: Vec<(String, [u8; 32])>,
    /// Each key's config, in the order of `keys` (its scopes).
    configs: Vec<ApiKeyConfig>,
    limiter: DefaultKeyedRateLimiter<usize>,
}

impl ApiAuth {
    pub fn new(config: &Config) -> Self {
        let (keys, configs) = config
            .api_keys
            .iter()
            .filter_map(|k| {
                let mut hash = [0u8; 32];
                // `Config::validate` guarantees 64 hex characters.
                hex::decode_to_slice(k.key_sha256.trim().to_ascii_lowercase(), &mut hash)
                    .ok()
                    .map(|()| ((k.name.clone(), hash), k.clone()))
            })
            .unzip();
        let per_second = NonZeroU32::new(config.rate_limit.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.rate_limit.burst).unwrap_or(NonZeroU32::MIN);
        Self {
            keys,
            configs,
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
        }
    }

    /// The index of the configured key whose hash matches `presented`.
    pub fn identify(&self, presented: &str) -> Option<usize> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (i, (_, hash)) in self.keys.iter().enumerate() {
            if bool::from(hash.ct_eq(&digest)) {
                found = Some(i);
            }
        }
        found
    }

    /// The name of the configured key at `index` (from [`ApiAuth::identify`]).
    pub fn name(&self, index: usize) -> Option<&str> {
        self.keys.get(index).map(|(name, _)| name.as_str())
    }

    /// `Err(seconds to wait)` when the key used up its burst.
    pub fn admit(&self, key: usize) -> Result<(), u64> {
        self.limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// The key of `Authorization: Bearer <key>`.
pub(in crate::http) fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

pub async fn require_key(
    State(auth): State<Arc<ApiAuth>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    if auth.keys.is_empty() {
        crate::metrics::logs::log_every!(warn, %path, "API request refused: no api_keys are configured");
        return unauthorized(NO_KEYS);
    }
    let Some(token) = bearer(&request) else {
        crate::metrics::logs::log_every!(warn, %path, "API request without a Bearer key refused");
        return unauthorized("Missing API key: send it as `Authorization: Bearer <key>`");
    };
    let Some(index) = auth.identify(token) else {
        crate::metrics::logs::log_every!(warn, %path, "API request with an unknown key refused");
        return unauthorized("Invalid API key");
    };
    if let Err(seconds) = auth.admit(index) {
        let name = &auth.keys[index].0;
        crate::metrics::logs::log_every!(warn, %path, key = %name, retry_after = seconds, "API request over the rate limit refused");
        let mut response = Error::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            format!("Rate limit exceeded. Retry in {seconds} seconds."),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&seconds.max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    let (name, config) = (&auth.keys[index].0, &auth.configs[index]);
    if !config.allows(&path) {
        crate::metrics::logs::log_every!(warn, %path, key = %name, "API request outside the key's scopes refused");
        return Error::forbidden(out_of_scope(name, config)).into_response();
    }
    request.extensions_mut().insert(Caller(name.clone()));
    next.run(request).await
}

/// Why a key with scopes may not call a route.
fn out_of_scope(name: &str, config: &ApiKeyConfig) -> String {
    let scopes: Vec<&str> = config.scopes.iter().flatten().map(|s| s.as_str()).collect();
    format!(
        "the API key `{name}` may not call this route: its scopes are [{}] (`inbox` allows only /api/inbox/…, the inbox page's calls); use a key without `scopes` for the rest of the API",
        scopes.join(", ")
    )
}

fn unauthorized(message: &str) -> Response {
    let mut response = Error::unauthorized(message).into_response();
    if let Ok(v) = "Bearer".parse() {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(keys: &[(&str, &str)]) -> Config {
        let mut c = Config::embedded_default();
        c.api_keys = keys
            .iter()
            .map(|(name, key)| crate::config::ApiKeyConfig {
                name: name.to_string(),
                key_sha256: hex::encode(Sha256::digest(key.as_bytes())),
                scopes: None,
            })
            .collect();
        c.rate_limit.per_second = 1;
        c.rate_limit.burst = 2;
        c
    }

    #[test]
    fn finds_the_key_whose_hash_matches() {
        let auth = ApiAuth::new(&config(&[("crm", "k1"), ("ops", "k2")]));
        assert_eq!(auth.identify("k2"), Some(1));
        assert_eq!(auth.identify("k1"), Some(0));
        assert_eq!(auth.identify("k3"), None);
        assert_eq!(auth.identify(""), None);
    }

    #[test]
    fn each_key_has_its_own_bucket() {
        let auth = ApiAuth::new(&config(&[("crm", "k1"), ("ops", "k2")]));
        assert!(auth.admit(0).is_ok());
        assert!(auth.admit(0).is_ok());
        let wait = auth.admit(0).unwrap_err();
        assert!((1..=1).contains(&wait), "{wait}");
        assert!(auth.admit(1).is_ok());
    }
}
