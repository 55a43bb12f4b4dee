//! The `sandbox:` section: how the sandbox channel imitates Meta (window, templates, rate
//! errors, delivery statuses) and whether the sandbox pages and API are served.

use crate::config::duration::de_opt_duration;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// Serve `/sandbox` and `/sandbox/api/…` (only when a sandbox sender is configured).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Serve the sandbox (which has no API key) on a `listen` address that is not
    /// loopback. Without it, such a config is refused (`validate`).
    #[serde(default)]
    pub expose: bool,
    /// Run Parley on a clock that only moves through `POST /sandbox/api/clock`. For trying
    /// timeouts and schedules by hand; never in production.
    #[serde(default)]
    pub manual_clock: bool,
    /// Refuse free-form messages outside the window with 131047, like Meta.
    #[serde(default = "yes")]
    pub enforce_window: bool,
    /// Refuse templates that are not declared (132001), paused (132015), not approved
    /// (132001) or sent with the wrong number of variables (132000).
    #[serde(default = "yes")]
    pub enforce_templates: bool,
    /// At most one message to the same contact per this period, else 131056 (pair rate).
    #[schemars(schema_with = "crate::config::duration::opt_schema")]
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub pair_rate_limit: Option<Duration>,
    /// At most this many messages per second, else 130429 (throughput).
    #[serde(default)]
    pub throughput: Option<u32>,
    /// Delivery statuses sent back into Parley through the webhook path after each accepted
    /// message (real-time delays; null: never).
    #[serde(default)]
    pub statuses: SandboxStatuses,
    /// Customers appear with a business-scoped user id only, as users who hide their
    /// number (WhatsApp usernames, 2026) do: replies are addressed to the BSUID. The id is
    /// derived from the phone typed in the sandbox, so the same customer keeps it.
    #[serde(default)]
    pub withhold_phones: bool,
    /// This share of customers (0–100, picked by a hash of their number, so always the
    /// same ones) have reached WhatsApp's per-user marketing limit: a marketing template
    /// sent to them is accepted, then fails with 131049 (a `failed` status), like Meta.
    #[serde(default)]
    pub marketing_limited_percent: u8,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            expose: false,
            manual_clock: false,
            enforce_window: true,
            enforce_templates: true,
            pair_rate_limit: None,
            throughput: None,
            statuses: SandboxStatuses::default(),
            withhold_phones: false,
            marketing_limited_percent: 0,
        }
    }
}

/// Delivery statuses the sandbox sends back into Parley (through the webhook ingest path)
/// after a message was accepted. Delays are real time.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxStatuses {
    /// Send statuses at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `sent` this long after the send (null: never).
    #[schemars(schema_with = "crate::config::duration::opt_schema")]
    #[serde(default = "default_sent", deserialize_with = "de_opt_duration")]
    pub sent_after: Option<Duration>,
    /// `delivered` this long after the send (null: never).
    #[schemars(schema_with = "crate::config::duration::opt_schema")]
    #[serde(default = "default_delivered", deserialize_with = "de_opt_duration")]
    pub delivered_after: Option<Duration>,
    /// null: the customer never reads.
    #[schemars(schema_with = "crate::config::duration::opt_schema")]
    #[serde(default = "default_read", deserialize_with = "de_opt_duration")]
    pub read_after: Option<Duration>,
    /// Send every status twice.
    #[serde(default)]
    pub duplicates: bool,
    /// Send the statuses in reverse order (read first).
    #[serde(default)]
    pub out_of_order: bool,
}

impl Default for SandboxStatuses {
    fn default() -> Self {
        Self {
            enabled: true,
            sent_after: default_sent(),
            delivered_after: default_delivered(),
            read_after: default_read(),
            duplicates: false,
            out_of_order: false,
        }
    }
}

impl SandboxConfig {
    /// The problem with serving the sandbox on `listen`, if any: the sandbox answers
    /// without an API key, so it is served beyond this host only when `expose` says so.
    /// `has_sandbox_sender`: the sandbox is on at all.
    pub fn exposure_problem(&self, listen: &str, has_sandbox_sender: bool) -> Option<String> {
        if !self.enabled || !has_sandbox_sender || self.expose {
            return None;
        }
        let addr = listen.parse::<std::net::SocketAddr>().ok()?;
        if addr.ip().is_loopback() {
            return None;
        }
        Some(format!(
            "sandbox: the sandbox page and API need no API key and would be served on {listen}, \
             which other machines can reach; listen on 127.0.0.1, or set `sandbox: {{ enabled: false }}`, \
             or set `sandbox: {{ expose: true }}` if only trusted clients can reach this address"
        ))
    }
}

fn yes() -> bool {
    true
}
fn default_sent() -> Option<Duration> {
    Some(Duration::from_millis(100))
}
fn default_delivered() -> Option<Duration> {
    Some(Duration::from_millis(300))
}
fn default_read() -> Option<Duration> {
    Some(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn sandbox_section_has_documented_defaults_and_reads_durations() {
        let c = Config::from_yaml("", "t.yaml", &|_| None).unwrap();
        assert!(c.sandbox.enabled && c.sandbox.enforce_window && !c.sandbox.manual_clock);
        assert_eq!(
            c.sandbox.statuses.read_after,
            Some(std::time::Duration::from_secs(1))
        );
        let c = Config::from_yaml(
            "sandbox: { pair_rate_limit: 6s, throughput: 2, statuses: { read_after: null, duplicates: true } }",
            "t.yaml",
            &|_| None,
        )
        .unwrap();
        assert_eq!(
            c.sandbox.pair_rate_limit,
            Some(std::time::Duration::from_secs(6))
        );
        assert_eq!(c.sandbox.throughput, Some(2));
        assert_eq!(c.sandbox.statuses.read_after, None);
        assert!(c.sandbox.statuses.duplicates);
        assert!(!c.sandbox.withhold_phones);
        let c =
            Config::from_yaml("sandbox: { withhold_phones: true }", "t.yaml", &|_| None).unwrap();
        assert!(c.sandbox.withhold_phones);
        let e = Config::from_yaml("sandbox: { pair_rate: 6s }", "t.yaml", &|_| None).unwrap_err();
        assert!(e.to_string().contains("sandbox"), "{e}");
    }

    const SANDBOX_SENDER: &str =
        "senders: [{ id: 1, name: S, channel: sandbox, phone_number: \"+15550000000\" }]\n";

    #[test]
    fn a_sandbox_on_a_public_listener_is_refused_without_expose() {
        let yaml = format!("listen: 0.0.0.0:8080\n{SANDBOX_SENDER}");
        let e = Config::from_yaml(&yaml, "t.yaml", &|_| None).unwrap_err();
        assert!(e.to_string().contains("sandbox: { expose: true }"), "{e}");
        let yaml = format!("listen: \"[::]:8080\"\n{SANDBOX_SENDER}");
        assert!(Config::from_yaml(&yaml, "t.yaml", &|_| None).is_err());
    }

    #[test]
    fn a_sandbox_on_loopback_or_exposed_on_purpose_or_disabled_is_accepted() {
        for yaml in [
            format!("listen: 127.0.0.1:8080\n{SANDBOX_SENDER}"),
            format!("listen: \"[::1]:8080\"\n{SANDBOX_SENDER}"),
            format!("listen: 0.0.0.0:8080\nsandbox: {{ expose: true }}\n{SANDBOX_SENDER}"),
            format!("listen: 0.0.0.0:8080\nsandbox: {{ enabled: false }}\n{SANDBOX_SENDER}"),
        ] {
            let c = Config::from_yaml(&yaml, "t.yaml", &|_| None);
            assert!(c.is_ok(), "{yaml}: {:?}", c.err());
        }
    }
}
