//! `http:` — how the listener treats connections: how long a client may take to send a
//! request's header, how long a connection may sit with nothing read or written, and how
//! many connections are open at once.

use crate::config::duration::de_duration;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// A client must send a request's whole header within this time (counted from when the
    /// server starts waiting for it, so it also bounds a kept-alive connection waiting for
    /// its next request); otherwise the connection is closed.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(
        default = "default_header_read_timeout",
        deserialize_with = "de_duration"
    )]
    pub header_read_timeout: Duration,
    /// A connection on which nothing is read or written for this long is closed (a body
    /// sent one byte at a time, a client that stops reading the answer).
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_idle_timeout", deserialize_with = "de_duration")]
    pub idle_timeout: Duration,
    /// Connections open at once. When full, the oldest connection that is not answering a
    /// request (waiting for a header, still receiving a body, or idle) is closed to make
    /// room, so a new webhook always gets in; when every one is answering, the new
    /// connection is closed. Keep it well under the open-file limit
    /// (`ulimit -n`): Parley also needs files for its database and outgoing requests.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: default_header_read_timeout(),
            idle_timeout: default_idle_timeout(),
            max_connections: default_max_connections(),
        }
    }
}

fn default_header_read_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_max_connections() -> usize {
    512
}

impl HttpConfig {
    pub(crate) fn problems(&self, problems: &mut Vec<String>) {
        if self.header_read_timeout.is_zero() {
            problems.push("http.header_read_timeout must be more than 0s".into());
        }
        if self.idle_timeout.is_zero() {
            problems.push("http.idle_timeout must be more than 0s".into());
        }
        if self.max_connections == 0 {
            problems.push("http.max_connections must be at least 1".into());
        }
    }
}
