//! The whole configuration: its sections (each in `config::sections`), the top-level keys
//! and the checks that need more than one section.

use super::*;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds.
    #[serde(default = "default_listen", deserialize_with = "de_listen")]
    pub listen: String,
    /// The public base URL providers call (e.g. `https://bot.example.com`). Twilio signs the
    /// full URL it requested, so Twilio webhooks need it; without it the `Host` header is
    /// trusted.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Where Parley keeps its data: SQLite (`sqlite://parley.db`) or PostgreSQL.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// The flow files, their scripts, and how flows are loaded and run.
    #[serde(default)]
    pub flows: FlowsConfig,
    /// WhatsApp's 24-hour customer service window.
    #[serde(default)]
    pub window: WindowConfig,
    /// WhatsApp numbers Parley sends from and receives for (Meta, Twilio or the sandbox).
    /// Webhooks are routed to a sender by Meta's phone_number_id or by Twilio's business
    /// number.
    #[serde(default)]
    pub senders: Vec<SenderConfig>,
    /// Message templates approved by Meta, used when the window is closed.
    #[serde(default)]
    pub templates: Vec<TemplateConfig>,
    /// API keys, stored as SHA-256 hashes; `parley keygen` prints a new key and its hash.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    /// Per-API-key rate limit.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// How webhook requests are taken in.
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    /// Handling customers' messages: concurrency, leases, debounce.
    #[serde(default)]
    pub inbox: InboxConfig,
    /// Sending: concurrency, leases, timeouts and retries.
    #[serde(default)]
    pub outbox: OutboxConfig,
    /// The log's format and level.
    #[serde(default)]
    pub log: LogConfig,
    /// Opt-out keywords every schedule honours, and the reply to them.
    #[serde(default)]
    pub opt_out: OptOutConfig,
    /// Scheduled flows (`schedule:` in a flow file).
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    /// Broadcasts: pacing, leases and the reply window.
    #[serde(default)]
    pub broadcasts: BroadcastsConfig,
    /// Business portfolios and their messaging limits (`senders[].portfolio`).
    #[serde(default)]
    pub portfolios: Vec<PortfolioConfig>,
    /// Marketing templates: the regions they are held back from.
    #[serde(default)]
    pub marketing: MarketingConfig,
    /// The API: the check of media URLs given to it.
    #[serde(default)]
    pub api: ApiConfig,
    /// The sandbox: sandbox senders record what they send instead of reaching WhatsApp; its
    /// page (/sandbox) and API need no key and answer only this machine unless exposed.
    #[serde(default)]
    pub sandbox: SandboxConfig,
    /// The flow studio (`/studio`).
    #[serde(default)]
    pub studio: StudioConfig,
    /// Events out: outgoing webhooks to CRMs and data pipelines.
    #[serde(default)]
    pub events: EventsConfig,
    /// The Chatwoot bridge (off unless set).
    #[serde(default)]
    pub chatwoot: Option<ChatwootConfig>,
    /// How the listener treats connections, so clients that trickle bytes cannot hold it.
    #[serde(default)]
    pub http: HttpConfig,
    /// Flow scripts (and `if`/`switch`/`set` expressions): their threads and queue.
    #[serde(default)]
    pub scripts: ScriptsConfig,
    /// Inbound media (photos, voice notes, documents…), downloaded while Meta keeps them and
    /// kept here.
    #[serde(default)]
    pub media: MediaConfig,
    /// The language models `agent` steps use, by name.
    #[serde(default)]
    pub models: Vec<ModelConfig>,
    /// Voice notes to text before flows see them.
    #[serde(default)]
    pub transcribe: Option<TranscribeConfig>,
    /// The rate card that prices each send (`pricing.rate_card`).
    #[serde(default)]
    pub pricing: super::sections::pricing::PricingConfig,
    /// How long each kind of history is kept before it is archived and deleted.
    #[serde(default)]
    pub retention: super::sections::retention::RetentionConfig,
    /// OpenTelemetry traces to an OTLP collector (off unless set).
    #[serde(default)]
    pub telemetry: super::sections::telemetry::TelemetryConfig,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

/// `listen:` as text; a bare port (`listen: 8080`) is refused with the address to write.
fn de_listen<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an address like 127.0.0.1:8080")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<String, E> {
            Ok(s.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<String, E> {
            Err(E::custom(port_alone(n)))
        }
        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<String, E> {
            Err(E::custom(port_alone(n)))
        }
    }
    d.deserialize_any(Visitor)
}

fn port_alone(n: impl std::fmt::Display) -> String {
    format!("`{n}` is a port alone; write the address with it, like 127.0.0.1:{n}")
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
        self.database.problems(&mut problems);
        self.log.problems(&mut problems);
        self.http.problems(&mut problems);
        self.window.problems(&mut problems);
        self.rate_limit.problems(&mut problems);
        self.flows.problems(&mut problems);
        self.media.problems(&mut problems);
        self.retention
            .problems(self.media.s3.is_some(), &mut problems);
        self.telemetry.problems(&mut problems);
        let sender_ids: Vec<i64> = self.senders.iter().map(|s| s.id).collect();
        self.events.problems(&sender_ids, &mut problems);
        self.pricing.problems(&mut problems);
        model_problems(&self.models, self.transcribe.as_ref(), &mut problems);
        if self.inbox.concurrency == 0 || self.outbox.concurrency == 0 {
            problems.push("inbox.concurrency and outbox.concurrency: must be at least 1".into());
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(format!(
                    "public_url: `{url}` must start with http:// or https://"
                ));
            }
            // Parley adds `/webhooks/twilio` itself: with it in `public_url` too, every
            // signature is checked against `…/webhooks/twilio/webhooks/twilio`.
            let path = url::Url::parse(url)
                .map(|u| u.path().to_string())
                .unwrap_or_default();
            if path.split('/').any(|segment| segment == "webhooks") {
                problems.push(format!(
                    "public_url: `{url}` names a webhook path; it is the scheme and host Twilio calls (and any path prefix your proxy adds), like `https://bot.example.com`: Parley adds /webhooks/twilio itself"
                ));
            }
        }
        sender_problems(&self.senders, &mut problems);
        self.broadcasts.problems(&mut problems);
        self.marketing.problems(&mut problems);
        portfolio_problems(&self.portfolios, &self.senders, &mut problems);
        template_problems(&self.templates, &mut problems);
        self.validate_api(&mut problems);
        let has_sandbox_sender = self
            .senders
            .iter()
            .any(|s| s.channel == ChannelKind::Sandbox);
        problems.extend(
            self.sandbox
                .exposure_problem(&self.listen, has_sandbox_sender),
        );
        let sender_ids: Vec<i64> = self.senders.iter().map(|s| s.id).collect();
        api_key_problems(&self.api_keys, &sender_ids, &mut problems);
        let key_names: Vec<&str> = self.api_keys.iter().map(|k| k.name.as_str()).collect();
        self.studio.problems(&key_names, &mut problems);
        let flows = crate::config::ApiScope::Flows;
        for key in self.api_keys.iter().filter(|k| !k.has_scope(flows)) {
            if self.studio.editors.contains(&key.name) {
                problems.push(format!(
                    "studio.editors: `{}` is a key limited by `scopes` (api_keys) without `flows`; editing flows needs the `flows` scope or a key without scopes: add `flows` to its scopes, or take `{}` out of studio.editors",
                    key.name, key.name
                ));
            }
        }
        if let Some(chatwoot) = &self.chatwoot {
            chatwoot.problems(&mut problems);
        }
        problems
    }

    /// What a deployment of this config lacks without being wrong: no flows (with
    /// `flows_loaded` of them running), no senders, no API keys. For `parley check`, the
    /// start's log and `/readyz`.
    pub fn warnings(&self, flows_loaded: usize) -> Vec<String> {
        self.warnings_on(flows_loaded, chrono::Utc::now().date_naive())
    }

    /// `warnings` as they read on `today`: a Meta sender's Graph API version that Meta
    /// retires within 90 days (or has retired) is one.
    pub fn warnings_on(&self, flows_loaded: usize, today: chrono::NaiveDate) -> Vec<String> {
        let mut warnings = Vec::new();
        if flows_loaded == 0 {
            let dir = std::path::Path::new(&self.flows.dir);
            let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
            warnings.push(format!(
                "no flows in {}: Parley answers no message; add a flow file (*.yaml) there, or set flows.dir",
                shown.display()
            ));
        }
        if self.senders.is_empty() {
            warnings.push(
                "no senders configured: nothing can reach Parley: add a sender, see config.example.yaml"
                    .into(),
            );
        }
        warnings.extend(self.templates.iter().filter_map(super::template_warning));
        let twilio: Vec<String> = self
            .senders
            .iter()
            .filter(|s| s.channel == ChannelKind::Twilio)
            .map(|s| s.id.to_string())
            .collect();
        if !twilio.is_empty() {
            for (i, t) in self.templates.iter().enumerate() {
                if t.twilio_content_sid
                    .as_deref()
                    .is_none_or(|sid| sid.trim().is_empty())
                {
                    warnings.push(format!(
                        "templates[{i}] (`{}`, {}) has no twilio_content_sid: Twilio sends a template only by its Content SID (HX…), so a message with it from the Twilio sender{} {} fails; add `twilio_content_sid: HX…` (Twilio Console → Content Template Builder), unless only Meta senders send it",
                        t.name,
                        t.language,
                        if twilio.len() == 1 { "" } else { "s" },
                        twilio.join(", ")
                    ));
                }
            }
        }
        for (i, s) in self.senders.iter().enumerate() {
            if s.spend_limit
                .as_ref()
                .is_some_and(|l| l.prices != Default::default())
            {
                warnings.push(format!(
                    "senders[{i}].spend_limit.prices: no longer used: the budget counts each message's predicted price from the rate card (pricing.rate_card); remove `prices`"
                ));
            }
            if let Some(meta) = &s.meta {
                let who = format!("senders[{i}] ({})", s.name);
                warnings.extend(crate::domain::graph_versions::warning(
                    &who,
                    &meta.api_base,
                    today,
                ));
            }
        }
        let real: Vec<String> = self
            .senders
            .iter()
            .filter(|s| s.channel != ChannelKind::Sandbox)
            .map(|s| s.id.to_string())
            .collect();
        if self.sandbox.manual_clock && !real.is_empty() {
            warnings.push(format!(
                "sandbox.manual_clock: the sandbox's clock is Parley's clock, so it also stands still (or jumps) for the conversations of sender{} {}: real customers' windows, waits and schedules follow it, and their replies can fail as outside the 24-hour window; use it in a config with only sandbox senders",
                if real.len() == 1 { "" } else { "s" },
                real.join(", ")
            ));
        }
        if !twilio.is_empty() && self.public_url.is_none() {
            warnings.push(format!(
                "no public_url with a Twilio sender ({}): Twilio's webhooks are checked against a URL rebuilt from Host and X-Forwarded-Proto (a proxy that changes Host fails every signature), and a sender without twilio.status_callback sends no StatusCallback, so its delivered, read and failed statuses arrive only if the Twilio console's status callback is set; set `public_url: https://<your host>`",
                twilio.join(", ")
            ));
        }
        if self.api_keys.is_empty() {
            warnings.push(
                "no api_keys configured: the API answers 401 to every request; run `parley keygen` and put the hash under `api_keys:` (or start a project with `parley init`)"
                    .into(),
            );
        }
        warnings
    }

    pub fn sender(&self, id: i64) -> Option<&SenderConfig> {
        self.senders.iter().find(|s| s.id == id)
    }

    pub fn template_by_name(&self, name: &str) -> Option<&TemplateConfig> {
        self.templates.iter().find(|t| t.name == name)
    }
}
