//! The `http` step's request: templated URL, headers and JSON body, a timeout, and the
//! network guard (`crate::net`): unless `flows.allow_private_networks` is true, the client
//! (built by `client`) resolves names through a resolver that refuses internal addresses
//! and connects only to the addresses it checked, literal IP hosts are checked here, and
//! each of at most 5 redirects is checked again. The answer is read in chunks and
//! abandoned past 1 MiB.
//!
//! Redirects within the host the step named are followed (APIs that move a path, and
//! http→https), each hop checked like the first request. A redirect to another host is not
//! followed: the step gets the 3xx answer, so the headers the author set (API keys) never
//! travel to a host the author did not name.

use crate::net::{self, Guard};
use std::time::Duration;

const MAX_BODY: usize = crate::domain::limits::HTTP_ANSWER_MAX;

/// What an `http` step may connect to: anything (`allow_private_networks`), or only what
/// the guard lets through.
#[derive(Debug, Clone)]
pub enum Reach {
    Anywhere,
    Public(Guard),
}

impl Reach {
    pub fn from_allow_private(allow_private: bool) -> Self {
        if allow_private {
            Reach::Anywhere
        } else {
            Reach::Public(Guard::system())
        }
    }
}

/// The HTTP client of `http` steps: guarded unless `allow_private`.
pub fn client(reach: &Reach) -> reqwest::Client {
    let builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(5));
    let builder = match reach {
        Reach::Anywhere => builder.redirect(net::guard::redirect_policy(None, net::MAX_REDIRECTS)),
        Reach::Public(guard) => guard.apply(builder, net::MAX_REDIRECTS),
    };
    builder.build().unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: reqwest::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<serde_json::Value>,
    pub timeout: Duration,
}

const HINT: &str =
    "http steps may not call internal services unless flows.allow_private_networks is true";

/// `{ status, ok, body }` on any HTTP answer; `Err` with a sentence otherwise. `client`
/// must come from `client(reach)`.
pub async fn call(
    client: &reqwest::Client,
    reach: &Reach,
    req: HttpRequest,
) -> Result<serde_json::Value, String> {
    let url = reqwest::Url::parse(&req.url)
        .map_err(|e| format!("`{}` is not a valid address: {e}", req.url))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{}` must start with http:// or https://", req.url));
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("`{}` has no host", req.url))?
        .to_string();
    if let Reach::Public(guard) = reach {
        guard.check_url(&url).map_err(|r| format!("{r}; {HINT}"))?;
    }
    let mut builder = client.request(req.method.clone(), url).timeout(req.timeout);
    for (k, v) in &req.headers {
        builder = builder.header(k, v);
    }
    // The step's span (`telemetry:`), unless the author set one.
    if let Some(traceparent) = crate::telemetry::traceparent() {
        if !req
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("traceparent"))
        {
            builder = builder.header("traceparent", traceparent);
        }
    }
    if let Some(body) = &req.body {
        builder = builder.json(body);
    }
    let response = builder.send().await.map_err(|e| {
        if let Some(refused) = net::refusal(&e) {
            // The setting helps only against an internal address, and only when it is off.
            let internal = matches!(reach, Reach::Public(_)) && net::refused_address(&e);
            let hint = if internal {
                format!("; {HINT}")
            } else {
                String::new()
            };
            format!("calling {host} was refused: {refused}{hint}")
        } else if e.is_timeout() {
            format!(
                "{host} did not answer within {}",
                humantime::format_duration(req.timeout)
            )
        } else {
            format!("calling {host} failed: {}", chain(&e))
        }
    })?;
    let status = response.status().as_u16();
    let late = || {
        format!(
            "the answer of {host} did not arrive within {}",
            humantime::format_duration(req.timeout)
        )
    };
    let bytes = tokio::time::timeout(req.timeout, net::read_limited(response, MAX_BODY))
        .await
        .map_err(|_| late())?
        .map_err(|e| match e {
            // The request's own timeout can end a body that trickles in first.
            net::BodyError::Read(r) if r.is_timeout() => late(),
            e => format!("reading the answer of {host} failed: {e}"),
        })?;
    let body = serde_json::from_slice(&bytes)
        .ok()
        .filter(|v| !deeper_than(v, MAX_ANSWER_DEPTH))
        .unwrap_or_else(|| serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Ok(serde_json::json!({ "status": status, "ok": (200..300).contains(&status), "body": body }))
}

/// Levels of arrays and objects inside each other an answer may have to be kept as JSON,
/// as many as a script may leave; deeper, it is kept as its text, as an answer that is not
/// JSON is. The conversation's state holds it a few levels further in, and JSON is read
/// back at most 128 deep: an answer 125 levels deep once made a conversation's state
/// unreadable, and every message of that customer was refused from then on.
pub const MAX_ANSWER_DEPTH: usize = crate::flows::script::MAX_NESTING;

/// Whether `value` nests arrays and objects more than `max` levels deep (walked without
/// recursion: the value may be as deep as the parser allows).
pub fn deeper_than(value: &serde_json::Value, max: usize) -> bool {
    use serde_json::Value;
    let mut todo = vec![(value, 0usize)];
    while let Some((v, depth)) = todo.pop() {
        if matches!(v, Value::Array(_) | Value::Object(_)) && depth == max {
            return true;
        }
        match v {
            Value::Array(items) => todo.extend(items.iter().map(|c| (c, depth + 1))),
            Value::Object(map) => todo.extend(map.values().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    false
}

/// An error with its causes, for a log line or a flow's `last_error`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
#[path = "http_step_tests.rs"]
mod tests;
