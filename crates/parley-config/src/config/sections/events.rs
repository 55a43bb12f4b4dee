//! The `events:` section: outgoing webhooks (Standard Webhooks) that CRMs and data pipelines
//! subscribe to — which endpoints, which events and senders each hears of, and how
//! deliveries are retried.

use crate::config::duration::{de_duration, parse};
use crate::domain::OutEventKind;
use serde::{Deserialize, Deserializer};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// The endpoints events are delivered to. With none, no event is recorded at all.
    #[serde(default)]
    pub endpoints: Vec<EventEndpointConfig>,
    /// When failed deliveries are tried again (each endpoint may have its own `schedule`).
    #[serde(default)]
    pub retry: EventRetryConfig,
    /// Deliveries in flight at once per endpoint from this process (events of one
    /// conversation still go one after the other).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// How often the delivery worker looks for new events and retries that are due.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_poll", deserialize_with = "de_duration")]
    pub poll_interval: Duration,
    /// How long a delivery is owned by the process making it before another may take it
    /// over; longer than every endpoint's `timeout`.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_lease", deserialize_with = "de_duration")]
    pub lease: Duration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            retry: EventRetryConfig::default(),
            concurrency: default_concurrency(),
            poll_interval: default_poll(),
            lease: default_lease(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventEndpointConfig {
    /// The endpoint's name: deliveries, the delivery log and replays are kept per name
    /// (rename it and it starts afresh from new events).
    pub name: String,
    /// Where events are POSTed (`https://crm.example.com/hooks/parley`).
    pub url: String,
    /// The signing secrets, `whsec_` and base64 (`${ENV}` keeps them out of the file). Every
    /// delivery is signed with each: add the new secret, let the receiver switch, then
    /// remove the old one — a rotation without downtime.
    pub secrets: Vec<String>,
    /// The kinds of event it hears of (`message.received`…); empty: all.
    #[serde(default)]
    pub events: Vec<String>,
    /// The senders (ids) whose events it hears of; empty: all. Events of no sender (a
    /// broadcast's progress) go to every endpoint.
    #[serde(default)]
    pub senders: Vec<i64>,
    /// The longest one delivery may take (connecting, sending, the answer).
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// This endpoint's retry delays, instead of `events.retry.schedule`.
    #[schemars(with = "Option<Vec<String>>")]
    #[serde(default, deserialize_with = "de_opt_durations")]
    pub schedule: Option<Vec<Duration>>,
}

impl EventEndpointConfig {
    /// The kinds it hears of (`None`: all). Unknown names are `validate`'s problems.
    pub fn kinds(&self) -> Option<Vec<OutEventKind>> {
        (!self.events.is_empty()).then(|| {
            self.events
                .iter()
                .filter_map(|e| OutEventKind::parse(e))
                .collect()
        })
    }
}

/// `events.retry`: the delay before each retry, then parking.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRetryConfig {
    /// The delays before the 2nd, 3rd… attempt (the first is immediate); after the last, a
    /// delivery that still fails is parked (replay brings it back).
    #[schemars(with = "Vec<String>")]
    #[serde(default = "default_schedule", deserialize_with = "de_durations")]
    pub schedule: Vec<Duration>,
    /// Each delay is moved by up to this fraction either way (0.2: ±20%), so that
    /// retries of many events do not arrive together.
    #[serde(default = "default_jitter")]
    pub jitter: f64,
}

impl Default for EventRetryConfig {
    fn default() -> Self {
        Self {
            schedule: default_schedule(),
            jitter: default_jitter(),
        }
    }
}

/// Svix's schedule: 5s, 5m, 30m, 2h, 5h, 10h, 10h — about 27½ hours, then parked.
fn default_schedule() -> Vec<Duration> {
    [5, 300, 1800, 7200, 18000, 36000, 36000]
        .into_iter()
        .map(Duration::from_secs)
        .collect()
}

fn default_jitter() -> f64 {
    0.2
}

fn default_concurrency() -> usize {
    4
}

fn default_poll() -> Duration {
    Duration::from_millis(500)
}

fn default_lease() -> Duration {
    Duration::from_secs(60)
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn de_durations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    texts
        .iter()
        .map(|s| parse(s).map_err(|e| serde::de::Error::custom(e.describe(s))))
        .collect()
}

fn de_opt_durations<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Duration>>, D::Error> {
    de_durations(d).map(Some)
}

/// Longest `timeout` of one delivery.
const LONGEST_TIMEOUT: Duration = Duration::from_secs(300);

impl EventsConfig {
    /// Problems of the section, each starting with its key's path; `senders` are the
    /// configured sender ids.
    pub fn problems(&self, senders: &[i64], problems: &mut Vec<String>) {
        if self.concurrency == 0 {
            problems.push("events.concurrency: must be at least 1".into());
        }
        if self.poll_interval.is_zero() {
            problems.push("events.poll_interval: must be longer than 0s".into());
        }
        retry_problems("events.retry.schedule", &self.retry.schedule, problems);
        if !(0.0..=1.0).contains(&self.retry.jitter) {
            problems.push(format!(
                "events.retry.jitter: `{}` must be between 0 and 1 (0.2 moves each delay by up to ±20%)",
                self.retry.jitter
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, e) in self.endpoints.iter().enumerate() {
            let at = format!("events.endpoints[{i}]");
            if !names.insert(e.name.as_str()) {
                problems.push(format!("{at}.name: `{}` names two endpoints", e.name));
            }
            e.problems(&at, senders, problems);
            if self.lease <= e.timeout {
                problems.push(format!(
                    "events.lease: must be longer than {at}.timeout ({}), or a slow delivery is taken over and sent twice",
                    humantime::format_duration(e.timeout)
                ));
            }
        }
    }
}

impl EventEndpointConfig {
    fn problems(&self, at: &str, senders: &[i64], problems: &mut Vec<String>) {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !name_ok {
            problems.push(format!(
                "{at}.name: `{}` must be 1 to 64 letters, digits, `-`, `_` or `.`",
                self.name
            ));
        }
        match url::Url::parse(&self.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            _ => problems.push(format!(
                "{at}.url: `{}` is not an address like https://crm.example.com/hooks/parley",
                self.url
            )),
        }
        if self.secrets.is_empty() {
            problems.push(format!(
                "{at}.secrets: give at least one signing secret, like whsec_ followed by base64 (e.g. `whsec_$(openssl rand -base64 32)`)"
            ));
        }
        for (j, s) in self.secrets.iter().enumerate() {
            if secret_bytes(s).is_none() {
                problems.push(format!(
                    "{at}.secrets[{j}]: must be whsec_ followed by base64 of 24 to 64 random bytes (e.g. `whsec_$(openssl rand -base64 32)`)"
                ));
            }
        }
        for (j, kind) in self.events.iter().enumerate() {
            if OutEventKind::parse(kind).is_none() {
                let known: Vec<&str> = OutEventKind::ALL.iter().map(|k| k.as_str()).collect();
                problems.push(format!(
                    "{at}.events[{j}]: `{kind}` is not a kind of event; the kinds are {}",
                    known.join(", ")
                ));
            }
        }
        for (j, id) in self.senders.iter().enumerate() {
            if !senders.contains(id) {
                problems.push(format!(
                    "{at}.senders[{j}]: there is no sender with id {id} in `senders`"
                ));
            }
        }
        if self.timeout.is_zero() || self.timeout > LONGEST_TIMEOUT {
            problems.push(format!(
                "{at}.timeout: must be between 1ms and {}",
                humantime::format_duration(LONGEST_TIMEOUT)
            ));
        }
        if let Some(schedule) = &self.schedule {
            retry_problems(&format!("{at}.schedule"), schedule, problems);
        }
    }
}

fn retry_problems(at: &str, schedule: &[Duration], problems: &mut Vec<String>) {
    if schedule.len() > 50 {
        problems.push(format!(
            "{at}: at most 50 retries (a delivery still failing after them is parked)"
        ));
    }
}

/// The key of a `whsec_…` secret: the bytes its base64 stands for, when it is one
/// (padded or not, 24 to 64 bytes).
pub fn secret_bytes(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.strip_prefix("whsec_")?.trim_end_matches('=');
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in b64.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    (24..=64).contains(&out.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_whsec_and_base64_of_enough_bytes() {
        // The Standard Webhooks spec's example secret.
        let key = secret_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(key.len(), 24);
        assert_eq!(&key[..3], &[0x31, 0xf2, 0x90]);
        assert!(secret_bytes("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
        assert!(secret_bytes("whsec_short").is_none());
        assert!(secret_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa!w").is_none());
    }

    #[test]
    fn the_default_schedule_retries_for_more_than_a_day_then_parks() {
        let c = EventsConfig::default();
        let total: Duration = c.retry.schedule.iter().sum();
        assert_eq!(c.retry.schedule.len(), 7);
        assert!(total > Duration::from_secs(24 * 3600), "{total:?}");
        let mut problems = Vec::new();
        c.problems(&[], &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
    }
}
