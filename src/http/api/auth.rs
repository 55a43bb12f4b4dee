//! API keys and per-key rate limits. Keys come from `api_keys[].key_sha256`; their hashes
//! are decoded once when the router is built, so a request costs one SHA-256 of the
//! presented key and a constant-time comparison with every configured hash (no early exit,
//! so timing does not reveal which key came close). Each key has its own token bucket
//! (`governor`, `rate_limit.per_second` refilled, `rate_limit.burst` deep; two entries of
//! one name, a key being rotated, share one); a refusal is 429 with `Retry-After` in whole
//! seconds. Every refusal is logged with the key's name when known, never with the key.
//! With no key configured at all, the refusal says so and how to add one: the usual reason
//! for a 401 on a fresh install. A key past its `expires` is refused 401, saying so.
//!
//! A key with `scopes` may call only the routes its scopes allow (the table in
//! `scopes.rs`); any other route answers it 403 `FORBIDDEN`, naming the scope needed and
//! the key's scopes. A key with `senders` may send from and read the window of only those
//! senders: the handlers ask [`sender_refusal`], which reads the request's key from a
//! task-local set here around the handler. A known key's name goes into the request's
//! extensions as a [`Caller`], so a handler can record who acted (the inbox records who
//! answered a customer).
//!
//! The audit log (`audit.rs`): every request that changes something (not GET or HEAD) and
//! succeeded, and every request refused for its scope, is recorded after the handler with
//! the key's name, the route's template, its path, the status and the client's address;
//! and a key's first use of each day in this process (`key.use`). One small insert each,
//! awaited, off the webhook path.

use super::audit::{self as trail, AuditDetail};
use super::scopes;
use crate::config::{ApiKeyConfig, Config};
use crate::http::error::Error;
use crate::http::state::AppState;
use crate::store::{AuditVia, NewAuditEntry};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The 401 message when the config has no `api_keys`: no key can be right.
const NO_KEYS: &str = "No API keys are configured on this Parley, so every request is refused. To add one, run `parley keygen` and put the printed hash under `api_keys:` in the config, then restart Parley (`parley init` starts a new project with a key).";

/// The name of the API key a request came with (`api_keys[].name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

/// What the key of the request being handled may reach: its name and `senders`.
#[derive(Debug, Clone)]
struct Grant {
    name: String,
    senders: Option<Vec<i64>>,
}

tokio::task_local! {
    static GRANT: Grant;
}

/// 403 when the request's key may not use sender `id` (its `senders` leave it out);
/// `None` outside a key's request or for a key without `senders`.
pub fn sender_refusal(id: i64) -> Option<Error> {
    GRANT
        .try_with(|g| {
            let senders = g.senders.as_ref()?;
            if senders.contains(&id) {
                return None;
            }
            let list: Vec<String> = senders.iter().map(i64::to_string).collect();
            Some(Error::forbidden(format!(
                "the API key `{}` may not use sender {id}: its `senders` are [{}]; add {id} to them in the config, or use a key for that sender",
                g.name,
                list.join(", ")
            )))
        })
        .ok()
        .flatten()
}

pub struct ApiAuth {
    /// Key names and their SHA-256, decoded once.
    keys: Vec<(String, [u8; 32])>,
    /// Each key's config, in the order of `keys` (its scopes, senders, expiry).
    configs: Vec<ApiKeyConfig>,
    limiter: DefaultKeyedRateLimiter<usize>,
    /// Per key, the last day (days since 1970, UTC) its use was recorded in the audit log.
    used_on: Vec<AtomicI64>,
}

impl ApiAuth {
    pub fn new(config: &Config) -> Self {
        let (keys, configs): (Vec<_>, Vec<_>) = config
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
            used_on: keys.iter().map(|_| AtomicI64::new(i64::MIN)).collect(),
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

    /// The config of the key at `index`.
    pub fn config(&self, index: usize) -> Option<&ApiKeyConfig> {
        self.configs.get(index)
    }

    /// `Err(seconds to wait)` when the key used up its burst. The entries of one name share
    /// a bucket (a key being rotated is still one caller).
    pub fn admit(&self, key: usize) -> Result<(), u64> {
        let name = &self.keys[key].0;
        let bucket = self.keys.iter().position(|(n, _)| n == name).unwrap_or(key);
        self.limiter.check_key(&bucket).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// The 401 message when the key at `index` has expired at `now`.
    pub fn expired(&self, index: usize, now: DateTime<Utc>) -> Option<String> {
        let config = self.configs.get(index)?;
        let at = config.expires_at().filter(|at| now >= *at)?;
        Some(format!(
            "The API key `{}` expired at {} (`expires` of its entry in api_keys): put a new key from `parley keygen --name {}` in the config, or move `expires` later",
            config.name,
            at.format("%Y-%m-%d %H:%M:%S UTC"),
            config.name
        ))
    }

    /// Whether this is the first use of the key at `index` on `now`'s day in this process.
    fn first_use_today(&self, index: usize, now: DateTime<Utc>) -> bool {
        let day = now.timestamp().div_euclid(86_400);
        self.used_on
            .get(index)
            .is_some_and(|d| d.swap(day, Ordering::Relaxed) != day)
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

/// What `require_key` needs: the keys and the app (its clock and store, for the audit log).
#[derive(Clone)]
pub struct Gate {
    pub auth: Arc<ApiAuth>,
    pub app: AppState,
}

/// The route's template (`/api/broadcasts/{broadcast_id}`), or the path when none matched.
pub(in crate::http) fn template(request: &Request) -> String {
    let path = request.uri().path();
    scopes::template_of(request.method().as_str(), path)
        .map(str::to_string)
        .unwrap_or_else(|| path.to_string())
}

/// The client's address, when the server saw one.
pub(in crate::http) fn source(request: &Request) -> Option<String> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

pub async fn require_key(State(gate): State<Gate>, mut request: Request, next: Next) -> Response {
    let auth = &gate.auth;
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
    let now = gate.app.clock.now();
    let (name, config) = (&auth.keys[index].0, &auth.configs[index]);
    if let Some(why) = auth.expired(index, now) {
        crate::metrics::logs::log_every!(warn, %path, key = %name, "API request with an expired key refused");
        return unauthorized(&why);
    }
    if let Err(seconds) = auth.admit(index) {
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
    let method = request.method().clone();
    let route = template(&request);
    let mut entry = NewAuditEntry::new(
        now.timestamp_millis(),
        name,
        AuditVia::Api,
        &format!("{method} {route}"),
    );
    entry.target = (route != path).then(|| path.clone());
    entry.source = source(&request);
    // Recorded after the handler, like the change itself: a request is not held up
    // before it starts (an import's turn goes to the one that came first).
    let first_use = auth.first_use_today(index, now).then(|| NewAuditEntry {
        action: "key.use".into(),
        target: None,
        detail: json!({ "first_route": entry.action }),
        ..entry.clone()
    });
    if let Some(why) = scopes::refusal(config, method.as_str(), &route) {
        crate::metrics::logs::log_every!(warn, %path, key = %name, "API request outside the key's scopes refused");
        if let Some(used) = first_use {
            trail::record(&gate.app, used).await;
        }
        entry.status = Some(403);
        entry.detail = json!({
            "refused": "scope",
            "scope_needed": scopes::scope_of(method.as_str(), &route).map(|s| s.as_str()),
        });
        trail::record(&gate.app, entry).await;
        return Error::forbidden(why).into_response();
    }
    let grant = Grant {
        name: name.clone(),
        senders: config.senders.clone(),
    };
    request.extensions_mut().insert(Caller(name.clone()));
    let mut response = GRANT.scope(grant, next.run(request)).await;
    if let Some(used) = first_use {
        trail::record(&gate.app, used).await;
    }
    if changes(&method) && response.status().as_u16() < 400 {
        entry.status = Some(i32::from(response.status().as_u16()));
        let mut detail = json!({});
        if let Some(scope) = scopes::scope_of(method.as_str(), &route) {
            detail["scope"] = json!(scope.as_str());
        }
        if let Some(AuditDetail(more)) = response.extensions_mut().remove::<AuditDetail>() {
            detail["result"] = more;
        }
        entry.detail = detail;
        trail::record(&gate.app, entry).await;
    }
    response
}

/// A method that may change something.
fn changes(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
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
                senders: None,
                expires: None,
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
    fn an_expired_key_is_named_and_its_use_is_recorded_once_a_day() {
        let mut c = config(&[("crm", "k1"), ("ops", "k2")]);
        c.api_keys[0].expires = Some("2027-01-01".into());
        let auth = ApiAuth::new(&c);
        let before = "2026-12-31T23:59:59Z".parse().unwrap();
        let after = "2027-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(auth.expired(0, before), None);
        let why = auth.expired(0, after).unwrap();
        assert!(
            why.contains("`crm` expired at 2027-01-01 00:00:00 UTC"),
            "{why}"
        );
        assert_eq!(auth.expired(1, after), None);
        assert!(auth.first_use_today(0, before));
        assert!(!auth.first_use_today(0, before));
        assert!(auth.first_use_today(1, before));
        assert!(auth.first_use_today(0, after), "a new day");
    }

    #[test]
    fn two_entries_of_one_name_are_both_valid_and_share_a_bucket() {
        let auth = ApiAuth::new(&config(&[("crm", "old"), ("crm", "new")]));
        assert_eq!(auth.identify("old"), Some(0));
        assert_eq!(auth.identify("new"), Some(1));
        assert!(auth.admit(0).is_ok());
        assert!(auth.admit(1).is_ok());
        assert!(auth.admit(1).is_err(), "one caller, one burst");
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
