//! `retention:`: how long each kind of history is kept before it is archived and deleted
//! (issue 60). Left out, nothing is archived or deleted. Where the archive files go (the
//! local folder `dir`, or with `to: bucket` the bucket of `media.s3`) and how fast the
//! worker goes are here too; what each kind covers and what is never archived is
//! the store's (`store::retention`).

use crate::config::duration::{de_duration, de_opt_duration};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Customers' messages and the replies sent to them (with their statuses).
    #[schemars(schema_with = "crate::config::duration::opt_schema")]
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub messages: Option<Duration>,
    /// Timer fires already handled (waits, timeouts, delays: a run's history).
    #[schemars(schema_with = "crate::config::duration::opt_schema")]
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub timers: Option<Duration>,
    /// Events out (`events_out`) every endpoint has been handed.
    #[schemars(schema_with = "crate::config::duration::opt_schema")]
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub events: Option<Duration>,
    /// Webhook deliveries that are done (delivered or parked).
    #[schemars(schema_with = "crate::config::duration::opt_schema")]
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub deliveries: Option<Duration>,
    /// Language-model exchanges' requests and answers (their usage and cost stay).
    #[schemars(schema_with = "crate::config::duration::opt_schema")]
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub model_exchanges: Option<Duration>,
    /// The audit log.
    #[schemars(schema_with = "crate::config::duration::opt_schema")]
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub audit: Option<Duration>,
    /// The folder the archive files are written to (relative to the config file's folder);
    /// with `to: bucket`, where each file waits until it is uploaded.
    #[serde(default = "default_dir")]
    pub dir: String,
    /// Where the archive is kept: `local` (the folder `dir`) or `bucket` (the object
    /// storage bucket of `media.s3`, under `archive/`).
    #[serde(default)]
    pub to: ArchiveTo,
    /// Rows read, written and deleted at a time (1 to 10,000).
    #[serde(default = "default_batch")]
    pub batch: u32,
    /// The pause after each batch, so the hot path never waits on the archiver.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_pause", deserialize_with = "de_duration")]
    pub pause: Duration,
    /// How often the worker looks for history past its period.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_interval", deserialize_with = "de_duration")]
    pub interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            messages: None,
            timers: None,
            events: None,
            deliveries: None,
            model_exchanges: None,
            audit: None,
            dir: default_dir(),
            to: ArchiveTo::Local,
            batch: default_batch(),
            pause: default_pause(),
            interval: default_interval(),
        }
    }
}

/// Where the archive files are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ArchiveTo {
    /// The folder `retention.dir`.
    #[default]
    Local,
    /// The bucket of `media.s3`, under the key prefix `archive/` (after `media.s3.prefix`).
    Bucket,
}

/// The most rows of one batch: a batch is one file and one delete statement.
pub const MAX_RETENTION_BATCH: u32 = 10_000;

impl RetentionConfig {
    /// Whether any kind has a period (else the worker does not run).
    pub fn any(&self) -> bool {
        self.periods().iter().any(|(_, p)| p.is_some())
    }

    /// Each kind's key and period.
    pub fn periods(&self) -> [(&'static str, Option<Duration>); 6] {
        [
            ("messages", self.messages),
            ("timers", self.timers),
            ("events", self.events),
            ("deliveries", self.deliveries),
            ("model_exchanges", self.model_exchanges),
            ("audit", self.audit),
        ]
    }

    /// Checks of this section's keys, each starting with the key's path; `media_s3`: whether
    /// `media.s3` is set (the bucket `to: bucket` writes to).
    pub fn problems(&self, media_s3: bool, problems: &mut Vec<String>) {
        if self.to == ArchiveTo::Bucket && !media_s3 {
            problems.push(
                "retention.to: `bucket` keeps the archive in the bucket of media.s3, which is not set: set media.s3 (endpoint, bucket, keys) or use `to: local`".into(),
            );
        }
        for (key, period) in self.periods() {
            if period.is_some_and(|p| p < Duration::from_secs(3600)) {
                problems.push(format!(
                    "retention.{key}: must be at least 1h (leave it out to keep this history forever)"
                ));
            }
        }
        if self.dir.trim().is_empty() {
            problems.push("retention.dir: must name a folder for the archive files".into());
        }
        if self.batch == 0 || self.batch > MAX_RETENTION_BATCH {
            problems.push(format!(
                "retention.batch: must be between 1 and {MAX_RETENTION_BATCH} (it is {})",
                self.batch
            ));
        }
        if self.pause > Duration::from_secs(60) {
            problems.push("retention.pause: must be at most 60s".into());
        }
        if self.interval < Duration::from_secs(1) {
            problems.push("retention.interval: must be at least 1s".into());
        }
    }
}

fn default_dir() -> String {
    "archive".into()
}
fn default_batch() -> u32 {
    500
}
fn default_pause() -> Duration {
    Duration::from_millis(50)
}
fn default_interval() -> Duration {
    Duration::from_secs(3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<String> {
        let c: RetentionConfig = serde_yaml::from_str(yaml).unwrap();
        let mut p = Vec::new();
        c.problems(false, &mut p);
        p
    }

    #[test]
    fn periods_read_like_durations_and_left_out_keeps_forever() {
        let c: RetentionConfig = serde_yaml::from_str("messages: 90d\naudit: 365d\n").unwrap();
        assert_eq!(c.messages, Some(Duration::from_secs(90 * 86400)));
        assert_eq!(c.audit, Some(Duration::from_secs(365 * 86400)));
        assert_eq!(c.events, None);
        assert!(c.any());
        assert!(!RetentionConfig::default().any());
        assert!(problems("messages: 90d").is_empty());
    }

    #[test]
    fn the_bucket_needs_media_s3() {
        let c: RetentionConfig = serde_yaml::from_str("messages: 90d\nto: bucket").unwrap();
        assert_eq!(c.to, ArchiveTo::Bucket);
        let mut p = Vec::new();
        c.problems(true, &mut p);
        assert!(p.is_empty(), "{p:?}");
        c.problems(false, &mut p);
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("retention.to: `bucket`"), "{}", p[0]);
        assert!(p[0].contains("set media.s3"), "{}", p[0]);
        assert_eq!(RetentionConfig::default().to, ArchiveTo::Local);
    }

    #[test]
    fn bad_settings_are_named_with_the_fix() {
        assert_eq!(
            problems("messages: 10m\nbatch: 0\ndir: ' '\npause: 2m\ninterval: 10ms"),
            vec![
                "retention.messages: must be at least 1h (leave it out to keep this history forever)",
                "retention.dir: must name a folder for the archive files",
                "retention.batch: must be between 1 and 10000 (it is 0)",
                "retention.pause: must be at most 60s",
                "retention.interval: must be at least 1s",
            ]
        );
        let e = serde_yaml::from_str::<RetentionConfig>("messages: soon").unwrap_err();
        assert!(e.to_string().contains("`soon` is not a duration"), "{e}");
        let e = serde_yaml::from_str::<RetentionConfig>("to: cloud").unwrap_err();
        assert!(e.to_string().contains("unknown variant `cloud`"), "{e}");
        let e = serde_yaml::from_str::<RetentionConfig>("messages: soon").unwrap_err();
        assert!(e.to_string().contains("`soon` is not a duration"), "{e}");
        let e = serde_yaml::from_str::<RetentionConfig>("message: 90d").unwrap_err();
        assert!(e.to_string().contains("unknown field `message`"), "{e}");
    }
}
