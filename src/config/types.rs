//! The configuration's shape, its documented defaults and the checks that need more than
//! one key.

use crate::domain::limits::{BODY_MAX, TEMPLATE_BUTTONS_MAX};
use crate::domain::{PhoneNumber, WindowPolicy};
use serde::{Deserialize, Deserializer};
use std::collections::HashSet;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The public base URL providers call (e.g. `https://bot.example.com`). Twilio signs the
    /// full URL it requested, so Twilio webhooks need it; without it the `Host` header is
    /// trusted.
    #[serde(default)]
    pub public_url: Option<String>,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub flows: FlowsConfig,
    #[serde(default)]
    pub window: WindowConfig,
    #[serde(default)]
    pub senders: Vec<SenderConfig>,
    #[serde(default)]
    pub templates: Vec<TemplateConfig>,
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    #[serde(default)]
    pub inbox: InboxConfig,
    #[serde(default)]
    pub outbox: OutboxConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub opt_out: OptOutConfig,
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    #[serde(default)]
    pub api: super::api::ApiConfig,
    #[serde(default)]
    pub sandbox: super::sandbox::SandboxConfig,
    #[serde(default)]
    pub http: super::http::HttpConfig,
    #[serde(default)]
    pub scripts: ScriptsConfig,
}

/// Opt-out keywords every schedule honours. A contact who writes one of them gets no more
/// scheduled messages until they write again (anything else).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptOutConfig {
    #[serde(default = "default_opt_out_keywords")]
    pub keywords: Vec<String>,
    /// Confirmation sent to a contact who opts out (null: none).
    #[serde(default = "default_opt_out_reply")]
    pub reply: Option<String>,
}

impl Default for OptOutConfig {
    fn default() -> Self {
        Self {
            keywords: default_opt_out_keywords(),
            reply: default_opt_out_reply(),
        }
    }
}

fn default_opt_out_keywords() -> Vec<String> {
    vec!["stop".into(), "unsubscribe".into()]
}
fn default_opt_out_reply() -> Option<String> {
    Some("You won't receive any more messages from us. Write to us any time to start again.".into())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// How often schedules are checked for due fires.
    #[serde(default = "default_scheduler_poll", deserialize_with = "de_duration")]
    pub poll_interval: Duration,
    /// Contacts read per page of an audience run.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// A run waits while its sender has more than this much work pending (pacing).
    #[serde(default = "default_max_backlog")]
    pub max_backlog: u32,
    /// How long a process owns an audience run before another may take it over.
    #[serde(default = "default_lease", deserialize_with = "de_duration")]
    pub lease: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            poll_interval: default_scheduler_poll(),
            page_size: default_page_size(),
            max_backlog: default_max_backlog(),
            lease: default_lease(),
        }
    }
}

fn default_scheduler_poll() -> Duration {
    Duration::from_secs(1)
}
fn default_page_size() -> u32 {
    500
}
fn default_max_backlog() -> u32 {
    2000
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://parley.db` (created if missing) or `postgres://user@host/db`.
    #[serde(default = "default_db_url")]
    pub url: String,
    /// Connections in the pool (PostgreSQL; SQLite readers).
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// SQLite only: `normal` survives a process kill; `full` also survives power loss, slower.
    #[serde(default)]
    pub sqlite_synchronous: SqliteSynchronous,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: default_db_url(),
            max_connections: default_max_connections(),
            sqlite_synchronous: SqliteSynchronous::default(),
        }
    }
}

fn default_db_url() -> String {
    "sqlite://parley.db".into()
}
fn default_max_connections() -> u32 {
    8
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqliteSynchronous {
    #[default]
    Normal,
    Full,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowsConfig {
    /// Folder of flow files (`*.yaml`, sub-folders included).
    #[serde(default = "default_flows_dir")]
    pub dir: String,
    /// Folder of Rhai scripts that flows refer to.
    #[serde(default = "default_scripts_dir")]
    pub scripts_dir: String,
    /// Reload flows when their files change while Parley runs.
    #[serde(default = "default_true")]
    pub hot_reload: bool,
    /// Let `http` steps call private, loopback and link-local addresses (refused by default
    /// so a flow cannot reach internal services).
    #[serde(default)]
    pub allow_private_networks: bool,
}

impl Default for FlowsConfig {
    fn default() -> Self {
        Self {
            dir: default_flows_dir(),
            scripts_dir: default_scripts_dir(),
            hot_reload: true,
            allow_private_networks: false,
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_flows_dir() -> String {
    "flows".into()
}
fn default_scripts_dir() -> String {
    "scripts".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// How long free-form messages are allowed after the customer's last message.
    #[serde(default = "default_window", deserialize_with = "de_duration")]
    pub duration: Duration,
    /// Treat the window as closed this much earlier, so late sends never bounce.
    #[serde(default, deserialize_with = "de_duration")]
    pub safety_margin: Duration,
    /// Emulate the hosted platforms (the `/api/user/whatsapp` API): an accepted template
    /// opens a window for the API's session status and free-form checks. Meta's rule
    /// (default false) is that it does not.
    #[serde(default)]
    pub template_opens_window: bool,
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self {
            duration: default_window(),
            safety_margin: Duration::ZERO,
            template_opens_window: false,
        }
    }
}

impl WindowConfig {
    pub fn policy(&self) -> WindowPolicy {
        WindowPolicy {
            duration: chrono::Duration::from_std(self.duration).unwrap_or(chrono::Duration::MAX),
            safety_margin: chrono::Duration::from_std(self.safety_margin).unwrap_or_default(),
        }
    }
}

fn default_window() -> Duration {
    Duration::from_secs(24 * 3600)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Meta,
    Twilio,
    Sandbox,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderConfig {
    pub id: i64,
    pub name: String,
    pub channel: ChannelKind,
    pub phone_number: PhoneNumber,
    #[serde(default)]
    pub meta: Option<MetaSettings>,
    #[serde(default)]
    pub twilio: Option<TwilioSettings>,
    /// Pacing: at most this many sends per second from this sender (Meta default 80,
    /// Twilio default 80, sandbox unlimited).
    #[serde(default)]
    pub messages_per_second: Option<u32>,
    /// At most this many template messages per UTC day from this sender; more wait for the
    /// next day.
    #[serde(default)]
    pub daily_template_cap: Option<u32>,
    /// API sends are refused (402) once this sender's messages cost this much.
    #[serde(default)]
    pub spend_limit: Option<super::api::SpendLimit>,
}

impl SenderConfig {
    pub fn sandbox(id: i64, name: &str, phone: &str) -> Self {
        Self {
            id,
            name: name.into(),
            channel: ChannelKind::Sandbox,
            phone_number: PhoneNumber::parse(phone).expect("valid sandbox number"),
            meta: None,
            twilio: None,
            messages_per_second: None,
            daily_template_cap: None,
            spend_limit: None,
        }
    }

    /// Sends per second this sender may make; `None` means unpaced.
    pub fn pace(&self) -> Option<u32> {
        match (self.messages_per_second, self.channel) {
            (Some(n), _) => Some(n),
            (None, ChannelKind::Meta | ChannelKind::Twilio) => Some(80),
            (None, ChannelKind::Sandbox) => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaSettings {
    pub phone_number_id: String,
    pub access_token: String,
    pub app_secret: String,
    pub verify_token: String,
    #[serde(default = "default_meta_api_base")]
    pub api_base: String,
}

fn default_meta_api_base() -> String {
    "https://graph.facebook.com/v21.0".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSettings {
    pub account_sid: String,
    pub auth_token: String,
    #[serde(default = "default_twilio_api_base")]
    pub api_base: String,
    /// Status callback URL Twilio should call for this sender's messages; defaults to
    /// `{public_url}/webhooks/twilio` when `public_url` is set.
    #[serde(default)]
    pub status_callback: Option<String>,
}

fn default_twilio_api_base() -> String {
    "https://api.twilio.com".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    Approved,
    Pending,
    Rejected,
    Paused,
}

impl TemplateStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            TemplateStatus::Approved => "approved",
            TemplateStatus::Pending => "pending",
            TemplateStatus::Rejected => "rejected",
            TemplateStatus::Paused => "paused",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    pub id: i64,
    pub name: String,
    pub language: String,
    pub status: TemplateStatus,
    /// The body with `{{1}}`, `{{2}}` placeholders.
    pub body: String,
    /// Quick-reply button labels, in order.
    #[serde(default)]
    pub buttons: Vec<String>,
    /// Twilio Content API SID (`HX…`) for sending this template through Twilio.
    #[serde(default)]
    pub twilio_content_sid: Option<String>,
}

impl TemplateConfig {
    /// Placeholder names used in the body, in order of first use, without repeats.
    pub fn placeholders(&self) -> Vec<String> {
        let mut found = Vec::new();
        let mut rest = self.body.as_str();
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else { break };
            let name = after[..end].trim().to_string();
            if !name.is_empty() && !found.contains(&name) {
                found.push(name);
            }
            rest = &after[end + 2..];
        }
        found
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    pub name: String,
    /// Lowercase hex SHA-256 of the key (`parley keygen` prints both).
    pub key_sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests per second allowed per API key.
    #[serde(default = "default_rate")]
    pub per_second: u32,
    /// Requests a key may make at once before the per-second rate applies.
    #[serde(default = "default_rate")]
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_second: default_rate(),
            burst: default_rate(),
        }
    }
}

fn default_rate() -> u32 {
    5
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Larger webhook bodies are refused with 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// A webhook not stored within this time is answered 503 (the provider retries it),
    /// so a database outage never holds providers' connections open.
    #[serde(default = "default_ack_timeout", deserialize_with = "de_duration")]
    pub ack_timeout: Duration,
    /// Webhook requests waiting to be stored at most; beyond it, 503 at once. Bounds the
    /// memory a database outage can take, whatever its length.
    #[serde(default = "default_ingest_queue")]
    pub max_waiting: usize,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_body(),
            ack_timeout: default_ack_timeout(),
            max_waiting: default_ingest_queue(),
        }
    }
}

fn default_ack_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_ingest_queue() -> usize {
    4096
}

fn default_max_body() -> usize {
    1024 * 1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxConfig {
    /// Conversations processed at the same time by this process.
    #[serde(default = "default_inbox_concurrency")]
    pub concurrency: usize,
    /// How long a process owns a conversation it is working on before another may take it.
    #[serde(default = "default_lease", deserialize_with = "de_duration")]
    pub lease: Duration,
    /// How often to look for work left by other processes (local work wakes at once).
    #[serde(default = "default_poll", deserialize_with = "de_duration")]
    pub poll_interval: Duration,
    /// Quiet period that collapses a burst of texts from one contact into one message
    /// (0s: off). A flow's own `debounce:` wins inside that flow.
    #[serde(default, deserialize_with = "de_duration")]
    pub debounce: Duration,
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self {
            concurrency: default_inbox_concurrency(),
            lease: default_lease(),
            poll_interval: default_poll(),
            debounce: Duration::ZERO,
        }
    }
}

fn default_inbox_concurrency() -> usize {
    64
}
fn default_lease() -> Duration {
    Duration::from_secs(30)
}
fn default_poll() -> Duration {
    Duration::from_millis(500)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Sends in flight at the same time from this process.
    #[serde(default = "default_outbox_concurrency")]
    pub concurrency: usize,
    #[serde(default = "default_lease", deserialize_with = "de_duration")]
    pub lease: Duration,
    #[serde(default = "default_poll", deserialize_with = "de_duration")]
    pub poll_interval: Duration,
    /// Timeout of one provider request.
    #[serde(default = "default_send_timeout", deserialize_with = "de_duration")]
    pub send_timeout: Duration,
    #[serde(default)]
    pub retry: RetryConfig,
    /// A send whose answer never came (a timeout: the provider may have taken it) is tried
    /// again only after this long, time for a status webhook naming it (Meta echoes the
    /// outbox id Parley tags each send with) to show it was accepted.
    #[serde(
        default = "default_unknown_outcome_wait",
        deserialize_with = "de_duration"
    )]
    pub unknown_outcome_wait: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            concurrency: default_outbox_concurrency(),
            lease: default_lease(),
            poll_interval: default_poll(),
            send_timeout: default_send_timeout(),
            retry: RetryConfig::default(),
            unknown_outcome_wait: default_unknown_outcome_wait(),
        }
    }
}

fn default_unknown_outcome_wait() -> Duration {
    Duration::from_secs(60)
}

fn default_outbox_concurrency() -> usize {
    64
}
fn default_send_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Retry schedule as data: exponential from `initial`, capped at `max_delay`, with full
/// jitter, for at most `max_attempts` tries or `give_up_after` in total.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    #[serde(default = "default_retry_initial", deserialize_with = "de_duration")]
    pub initial: Duration,
    #[serde(default = "default_retry_max", deserialize_with = "de_duration")]
    pub max_delay: Duration,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_give_up", deserialize_with = "de_duration")]
    pub give_up_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial: default_retry_initial(),
            max_delay: default_retry_max(),
            max_attempts: default_max_attempts(),
            give_up_after: default_give_up(),
        }
    }
}

fn default_retry_initial() -> Duration {
    Duration::from_millis(500)
}
fn default_retry_max() -> Duration {
    Duration::from_secs(60)
}
fn default_max_attempts() -> u32 {
    50
}
fn default_give_up() -> Duration {
    Duration::from_secs(6 * 3600)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default)]
    pub format: LogFormat,
    /// A tracing filter such as `info` or `parley=debug,sqlx=warn`; `RUST_LOG` wins.
    #[serde(default)]
    pub level: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// Durations are written the human way: `24h`, `10m`, `500ms`, `1h 30m`.
pub(super) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(s.trim()).map_err(|e| {
        serde::de::Error::custom(format!(
            "`{s}` is not a duration ({e}); write it like 24h, 10m, 30s or 500ms"
        ))
    })
}

/// Where flow scripts (and `if`/`switch`/`set` expressions) run: threads of their own
/// behind a bounded queue, so scripts never delay taking webhooks in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptsConfig {
    /// Threads that run scripts (0: one per CPU core but one, at least one).
    #[serde(default)]
    pub threads: usize,
    /// Scripts that may wait for a free thread; one more fails its step at once
    /// (`on_error`).
    #[serde(default = "default_script_queue")]
    pub queue: usize,
}

impl Default for ScriptsConfig {
    fn default() -> Self {
        Self {
            threads: 0,
            queue: default_script_queue(),
        }
    }
}

/// Small on purpose: a conversation whose script waits holds one of the inbox's
/// `inbox.concurrency` slots, so a long queue of heavy scripts would delay everyone's
/// replies; beyond it, script steps fail at once and take `on_error`.
fn default_script_queue() -> usize {
    16
}

impl Config {
    /// Checks that span several keys. Each problem starts with the key's path.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!(
                "listen: `{}` is not an address like 127.0.0.1:8080",
                self.listen
            ));
        }
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            problems.push(format!(
                "database.url: `{url}` must start with sqlite:// or postgres://"
            ));
        }
        self.http.problems(&mut problems);
        if self.database.max_connections == 0 {
            problems.push("database.max_connections: must be at least 1".into());
        }
        if self.window.duration.is_zero() {
            problems.push("window.duration: must be longer than zero".into());
        }
        if self.window.safety_margin >= self.window.duration {
            problems.push("window.safety_margin: must be shorter than window.duration".into());
        }
        if self.rate_limit.per_second == 0 || self.rate_limit.burst == 0 {
            problems.push("rate_limit: per_second and burst must be at least 1".into());
        }
        if self.inbox.concurrency == 0 || self.outbox.concurrency == 0 {
            problems.push("inbox.concurrency and outbox.concurrency: must be at least 1".into());
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(format!(
                    "public_url: `{url}` must start with http:// or https://"
                ));
            }
        }
        self.validate_senders(&mut problems);
        self.validate_templates(&mut problems);
        self.validate_api(&mut problems);
        let has_sandbox_sender = self
            .senders
            .iter()
            .any(|s| s.channel == ChannelKind::Sandbox);
        problems.extend(
            self.sandbox
                .exposure_problem(&self.listen, has_sandbox_sender),
        );
        for (i, key) in self.api_keys.iter().enumerate() {
            let ok =
                key.key_sha256.len() == 64 && key.key_sha256.chars().all(|c| c.is_ascii_hexdigit());
            if !ok {
                problems.push(format!(
                    "api_keys[{i}].key_sha256: must be 64 hex characters (run `parley keygen`)"
                ));
            }
        }
        problems
    }

    fn validate_senders(&self, problems: &mut Vec<String>) {
        let mut ids = HashSet::new();
        let mut numbers = HashSet::new();
        let mut phone_number_ids = HashSet::new();
        for (i, s) in self.senders.iter().enumerate() {
            let at = format!("senders[{i}]");
            if !ids.insert(s.id) {
                problems.push(format!("{at}.id: sender id {} is used twice", s.id));
            }
            if !numbers.insert(s.phone_number.clone()) {
                problems.push(format!(
                    "{at}.phone_number: {} belongs to another sender too",
                    s.phone_number
                ));
            }
            if s.messages_per_second == Some(0) {
                problems.push(format!("{at}.messages_per_second: must be at least 1"));
            }
            match s.channel {
                ChannelKind::Meta => match &s.meta {
                    None => problems.push(format!(
                        "{at}.meta: a sender with channel: meta needs phone_number_id, access_token, app_secret and verify_token"
                    )),
                    Some(m) => {
                        if !phone_number_ids.insert(m.phone_number_id.clone()) {
                            problems.push(format!(
                                "{at}.meta.phone_number_id: {} belongs to another sender too",
                                m.phone_number_id
                            ));
                        }
                        for (key, value) in [
                            ("phone_number_id", &m.phone_number_id),
                            ("access_token", &m.access_token),
                            ("app_secret", &m.app_secret),
                            ("verify_token", &m.verify_token),
                        ] {
                            if value.trim().is_empty() {
                                problems.push(format!("{at}.meta.{key}: must not be empty"));
                            }
                        }
                    }
                },
                ChannelKind::Twilio => match &s.twilio {
                    None => problems.push(format!(
                        "{at}.twilio: a sender with channel: twilio needs account_sid and auth_token"
                    )),
                    Some(t) => {
                        for (key, value) in [("account_sid", &t.account_sid), ("auth_token", &t.auth_token)] {
                            if value.trim().is_empty() {
                                problems.push(format!("{at}.twilio.{key}: must not be empty"));
                            }
                        }
                    }
                },
                ChannelKind::Sandbox => {}
            }
            if s.channel != ChannelKind::Meta && s.meta.is_some() {
                problems.push(format!("{at}.meta: only allowed with channel: meta"));
            }
            if s.channel != ChannelKind::Twilio && s.twilio.is_some() {
                problems.push(format!("{at}.twilio: only allowed with channel: twilio"));
            }
        }
    }

    fn validate_templates(&self, problems: &mut Vec<String>) {
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for (i, t) in self.templates.iter().enumerate() {
            let at = format!("templates[{i}]");
            if !ids.insert(t.id) {
                problems.push(format!("{at}.id: template id {} is used twice", t.id));
            }
            if !names.insert((t.name.clone(), t.language.clone())) {
                problems.push(format!(
                    "{at}.name: template {} ({}) is declared twice",
                    t.name, t.language
                ));
            }
            if t.body.chars().count() > BODY_MAX {
                problems.push(format!(
                    "{at}.body: longer than WhatsApp's {BODY_MAX} characters"
                ));
            }
            if t.buttons.len() > TEMPLATE_BUTTONS_MAX {
                problems.push(format!(
                    "{at}.buttons: at most {TEMPLATE_BUTTONS_MAX} quick-reply buttons"
                ));
            }
        }
    }

    pub fn sender(&self, id: i64) -> Option<&SenderConfig> {
        self.senders.iter().find(|s| s.id == id)
    }

    pub fn template_by_name(&self, name: &str) -> Option<&TemplateConfig> {
        self.templates.iter().find(|t| t.name == name)
    }
}
