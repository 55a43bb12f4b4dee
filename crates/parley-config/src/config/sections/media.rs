//! `media:`: inbound media (photos, videos, voice notes, documents, stickers) downloaded
//! while the provider still has it (Meta forgets a media id after 7 days), kept in a
//! content-addressed folder, served through the API, and deleted after `retention`.

use super::outbox::RetryConfig;
use crate::config::duration::de_duration;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Download inbound media at all.
    #[serde(default = "super::default_true")]
    pub enabled: bool,
    /// The folder of the files (relative to the config file's folder).
    #[serde(default = "default_dir")]
    pub dir: String,
    /// How long a message's media is kept after it arrived.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_retention", deserialize_with = "de_duration")]
    pub retention: Duration,
    /// A cap below WhatsApp's own limits per kind (5 MB images, 16 MB video and audio,
    /// 100 MB documents, 500 KB stickers); `null` keeps WhatsApp's.
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Downloads in flight at the same time from this process.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// The longest one download (the provider's answer and the file) may take.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_download_timeout", deserialize_with = "de_duration")]
    pub download_timeout: Duration,
    /// How often an idle download worker looks for work it was not woken for.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_poll", deserialize_with = "de_duration")]
    pub poll_interval: Duration,
    /// How often files and rows past `retention` are deleted.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_sweep_interval", deserialize_with = "de_duration")]
    pub sweep_interval: Duration,
    /// Retries of a failed download; `give_up_after` stays inside Meta's 7 days.
    #[serde(default = "default_retry")]
    pub retry: RetryConfig,
    /// Keep the files in S3-compatible object storage instead of `dir` (which then holds
    /// only files being downloaded).
    #[serde(default)]
    pub s3: Option<MediaS3Config>,
}

/// `media.s3`: a bucket of an S3-compatible object store, addressed path-style.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaS3Config {
    /// `https://s3.eu-west-1.amazonaws.com`, `http://minio:9000`…
    pub endpoint: String,
    /// The bucket's name.
    pub bucket: String,
    /// The bucket's region (default us-east-1).
    #[serde(default = "default_region")]
    pub region: String,
    /// The access key id (SigV4); `${S3_ACCESS_KEY_ID}` keeps it out of the file.
    pub access_key_id: String,
    /// The secret access key; `${S3_SECRET_ACCESS_KEY}` keeps it out of the file.
    pub secret_access_key: String,
    /// Put before each file's name (`parley/media/`).
    #[serde(default)]
    pub prefix: String,
}

fn default_region() -> String {
    "us-east-1".into()
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: default_dir(),
            retention: default_retention(),
            max_bytes: None,
            concurrency: default_concurrency(),
            download_timeout: default_download_timeout(),
            poll_interval: default_poll(),
            sweep_interval: default_sweep_interval(),
            retry: default_retry(),
            s3: None,
        }
    }
}

impl MediaConfig {
    /// Checks of this section's own keys, each starting with the key's path.
    pub fn problems(&self, problems: &mut Vec<String>) {
        if self.dir.trim().is_empty() {
            problems.push("media.dir: must name a folder".into());
        }
        if self.retention.is_zero() {
            problems.push(
                "media.retention: must be longer than 0s (set media.enabled: false to keep no media)"
                    .into(),
            );
        }
        if self.max_bytes == Some(0) {
            problems
                .push("media.max_bytes: must be at least 1 (or null for WhatsApp's limits)".into());
        }
        if self.concurrency == 0 {
            problems.push("media.concurrency: must be at least 1".into());
        }
        if let Some(s3) = &self.s3 {
            if !(s3.endpoint.starts_with("http://") || s3.endpoint.starts_with("https://")) {
                problems.push(format!(
                    "media.s3.endpoint: `{}` must start with http:// or https://",
                    s3.endpoint
                ));
            }
            if s3.bucket.is_empty() || s3.bucket.contains('/') {
                problems.push("media.s3.bucket: must name a bucket (no `/`)".into());
            }
        }
        if self.download_timeout.is_zero() || self.sweep_interval.is_zero() {
            problems.push(
                "media.download_timeout and media.sweep_interval: must be longer than 0s".into(),
            );
        }
    }
}

fn default_dir() -> String {
    "media".into()
}
fn default_retention() -> Duration {
    Duration::from_secs(90 * 24 * 3600)
}
fn default_concurrency() -> usize {
    4
}
fn default_download_timeout() -> Duration {
    Duration::from_secs(300)
}
fn default_poll() -> Duration {
    Duration::from_secs(1)
}
fn default_sweep_interval() -> Duration {
    Duration::from_secs(3600)
}
fn default_retry() -> RetryConfig {
    RetryConfig {
        initial: Duration::from_secs(5),
        max_delay: Duration::from_secs(1800),
        max_attempts: 30,
        give_up_after: Duration::from_secs(6 * 24 * 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(config: &MediaConfig) -> Vec<String> {
        let mut problems = Vec::new();
        config.problems(&mut problems);
        problems
    }

    #[test]
    fn defaults_keep_whatsapps_limits_and_retry_inside_metas_seven_days() {
        let c = MediaConfig::default();
        assert!(problems(&c).is_empty());
        assert_eq!(c.max_bytes, None);
        assert!(c.retry.give_up_after < Duration::from_secs(7 * 24 * 3600));
    }

    #[test]
    fn bad_values_are_named_by_their_key() {
        let c = MediaConfig {
            retention: Duration::ZERO,
            max_bytes: Some(0),
            concurrency: 0,
            s3: Some(MediaS3Config {
                endpoint: "s3.example.com".into(),
                bucket: "a/b".into(),
                region: default_region(),
                access_key_id: "k".into(),
                secret_access_key: "s".into(),
                prefix: String::new(),
            }),
            ..MediaConfig::default()
        };
        let p = problems(&c).join("\n");
        for key in [
            "media.retention:",
            "media.max_bytes:",
            "media.concurrency:",
            "media.s3.endpoint:",
            "media.s3.bucket:",
        ] {
            assert!(p.contains(key), "{key} in {p}");
        }
    }
}
