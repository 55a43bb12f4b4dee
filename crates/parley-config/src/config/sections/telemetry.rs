//! `telemetry:`: OpenTelemetry traces sent to an OTLP collector (issue 60); off unless an
//! `endpoint` is set. One trace per inbound message (webhook, inbox wait, the flow's
//! steps, `http` steps and model calls, outbox wait, the send); no customer text in any
//! span unless `include_text` says so.

use crate::config::duration::de_duration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The OTLP/HTTP collector's base URL (`http://127.0.0.1:4318`); spans are POSTed as
    /// JSON to `<endpoint>/v1/traces`. Left out: no traces, and nothing on the hot path.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Headers sent with every export (a collector's API key: `${ENV}` keeps it out of
    /// the file). Never logged.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The `service.name` the spans are reported under.
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// The share of messages traced, 0 to 1 (decided from the trace id, so every hop of a
    /// message agrees). An API request whose `traceparent` says sampled is always traced.
    #[serde(default = "default_sample_ratio")]
    pub sample_ratio: f64,
    /// Puts customers' texts (the message, the reply) in spans. Off: spans say what
    /// happened and how long it took, never what anyone wrote.
    #[serde(default)]
    pub include_text: bool,
    /// Spans sent in one export request, at most.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Spans waiting for export, at most; beyond it spans are dropped and counted
    /// (`parley_trace_spans_dropped_total{reason="queue_full"}`), never waited for.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// The longest a span waits for its batch to fill before it is sent.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_interval", deserialize_with = "de_duration")]
    pub interval: Duration,
    /// The longest one export request may take.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            headers: BTreeMap::new(),
            service_name: default_service_name(),
            sample_ratio: default_sample_ratio(),
            include_text: false,
            batch_size: default_batch_size(),
            queue: default_queue(),
            interval: default_interval(),
            timeout: default_timeout(),
        }
    }
}

/// The largest `batch_size` and `queue` accepted.
pub const MAX_BATCH_SIZE: usize = 10_000;
pub const MAX_QUEUE: usize = 1_000_000;

fn default_service_name() -> String {
    "parley".into()
}

fn default_sample_ratio() -> f64 {
    1.0
}

fn default_batch_size() -> usize {
    512
}

fn default_queue() -> usize {
    8192
}

fn default_interval() -> Duration {
    Duration::from_secs(1)
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl TelemetryConfig {
    /// What the exporter needs; `None` while no endpoint is set (tracing off).
    pub fn export_settings(&self) -> Option<crate::telemetry::ExportSettings> {
        Some(crate::telemetry::ExportSettings {
            endpoint: self.endpoint.clone()?,
            headers: self.headers.clone().into_iter().collect(),
            service_name: self.service_name.clone(),
            sample_ratio: self.sample_ratio,
            include_text: self.include_text,
            batch_size: self.batch_size,
            queue: self.queue,
            interval: self.interval,
            timeout: self.timeout,
        })
    }

    pub fn problems(&self, problems: &mut Vec<String>) {
        if let Some(endpoint) = &self.endpoint {
            match url::Url::parse(endpoint) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => problems.push(format!(
                    "telemetry.endpoint: `{endpoint}` is not an http:// or https:// URL; write the collector's base URL, like http://127.0.0.1:4318 (spans go to <endpoint>/v1/traces)"
                )),
            }
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            problems.push(format!(
                "telemetry.sample_ratio: must be between 0 and 1 (it is {}); 1 traces every message, 0.1 one in ten",
                self.sample_ratio
            ));
        }
        if self.service_name.trim().is_empty() {
            problems.push("telemetry.service_name: must not be empty (default: parley)".into());
        }
        if self.batch_size == 0 || self.batch_size > MAX_BATCH_SIZE {
            problems.push(format!(
                "telemetry.batch_size: must be between 1 and {MAX_BATCH_SIZE} (it is {})",
                self.batch_size
            ));
        }
        if self.queue == 0 || self.queue > MAX_QUEUE {
            problems.push(format!(
                "telemetry.queue: must be between 1 and {MAX_QUEUE} (it is {})",
                self.queue
            ));
        }
        if self.interval < Duration::from_millis(10) || self.interval > Duration::from_secs(60) {
            problems.push("telemetry.interval: must be between 10ms and 60s".into());
        }
        if self.timeout < Duration::from_millis(100) || self.timeout > Duration::from_secs(120) {
            problems.push("telemetry.timeout: must be between 100ms and 120s".into());
        }
        for (name, value) in &self.headers {
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token {
                problems.push(format!(
                    "telemetry.headers: `{name}` is not a valid header name (letters, digits and - only, like x-api-key)"
                ));
            }
            // The value is a secret: named by its header, never quoted.
            if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
                problems.push(format!(
                    "telemetry.headers.{name}: the value has a line break or control character"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<String> {
        let c: TelemetryConfig = serde_yaml::from_str(yaml).unwrap();
        let mut p = Vec::new();
        c.problems(&mut p);
        p
    }

    #[test]
    fn off_by_default_and_the_defaults_are_valid() {
        let c = TelemetryConfig::default();
        assert!(c.endpoint.is_none() && !c.include_text);
        assert!(problems("{}").is_empty());
        assert!(problems(
            "endpoint: http://127.0.0.1:4318\nheaders: { x-api-key: s3cret }\nsample_ratio: 0.25\n"
        )
        .is_empty());
    }

    #[test]
    fn bad_values_are_named_in_plain_words_without_the_secret() {
        let p = problems(
            "endpoint: collector:4318\nsample_ratio: 1.5\nbatch_size: 0\nqueue: 0\ninterval: 0s\ntimeout: 1h\nservice_name: ' '\nheaders: { 'bad name': \"s3cret\\nx\" }\n",
        );
        let text = p.join("\n");
        for needle in [
            "telemetry.endpoint: `collector:4318` is not an http:// or https:// URL",
            "telemetry.sample_ratio: must be between 0 and 1 (it is 1.5)",
            "telemetry.batch_size: must be between 1",
            "telemetry.queue: must be between 1",
            "telemetry.interval: must be between 10ms and 60s",
            "telemetry.timeout: must be between 100ms and 120s",
            "telemetry.service_name: must not be empty",
            "telemetry.headers: `bad name` is not a valid header name",
            "telemetry.headers.bad name: the value has a line break",
        ] {
            assert!(text.contains(needle), "{needle} not in:\n{text}");
        }
        assert!(!text.contains("s3cret"), "{text}");
        assert_eq!(p.len(), 9, "{text}");
    }
}
