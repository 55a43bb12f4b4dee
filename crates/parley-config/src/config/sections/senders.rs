//! `senders:`: the WhatsApp numbers Parley sends from, with their channel's settings.

use crate::domain::PhoneNumber;
use serde::Deserialize;
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Meta,
    Twilio,
    Sandbox,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SenderConfig {
    /// A whole number naming the sender in the API (`sender_id`) and in flows
    /// (`schedule.sender`).
    pub id: i64,
    /// A name for people, like `Support`.
    pub name: String,
    /// `meta`, `twilio` or `sandbox`.
    pub channel: ChannelKind,
    /// The number, with its country code, like `+15550783881`.
    #[schemars(with = "String")]
    pub phone_number: PhoneNumber,
    /// A Meta sender's Cloud API settings.
    #[serde(default)]
    pub meta: Option<MetaSettings>,
    /// A Twilio sender's settings.
    #[serde(default)]
    pub twilio: Option<TwilioSettings>,
    /// Pacing: at most this many sends per second from this sender (Meta default 80,
    /// Twilio default 80, sandbox unlimited).
    #[serde(default)]
    pub messages_per_second: Option<u32>,
    /// The share of this sender's pace that bulk sends (broadcasts, and scheduled or API
    /// sends to customers who are not writing now) may take while replies to customers who
    /// are writing wait for it: 0 (the default) sends every waiting reply first, 0.25
    /// gives bulk sends one slot in four. From 0 to 0.5.
    #[serde(default)]
    pub bulk_share: f64,
    /// At most this many template messages per UTC day from this sender; more wait for the
    /// next day.
    #[serde(default)]
    pub daily_template_cap: Option<u32>,
    /// API sends are refused (402) once this sender's messages cost this much.
    #[serde(default)]
    pub spend_limit: Option<super::api::SpendLimit>,
    /// What a message a person sends from the WhatsApp Business app on this (shared) number
    /// does to the bot for that customer: `until_release` (the default: like a `handoff`
    /// step without timeout, until released through the API), `off` (the bot carries on),
    /// or a duration (`2h`: like a handoff with that timeout, renewed by each echo).
    #[serde(default)]
    pub echo_pause: EchoPause,
    /// The business portfolio (`portfolios[].id`) this number belongs to: broadcasts from
    /// it share that portfolio's messaging limit.
    #[serde(default)]
    pub portfolio: Option<String>,
}

/// See `SenderConfig::echo_pause`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EchoPause {
    #[default]
    UntilRelease,
    Off,
    For(std::time::Duration),
}

impl schemars::JsonSchema for EchoPause {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EchoPause".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`until_release` (the default), `off`, or a duration like `2h`.",
            "anyOf": [
                { "enum": ["until_release", "off"] },
                { "type": "string", "pattern": crate::config::duration::PATTERN },
            ]
        })
    }
}

impl<'de> Deserialize<'de> for EchoPause {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.trim() {
            "until_release" => Ok(EchoPause::UntilRelease),
            "off" => Ok(EchoPause::Off),
            other => match crate::config::duration::parse(other) {
                Ok(d) if !d.is_zero() => Ok(EchoPause::For(d)),
                Err(e @ crate::config::duration::DurationError::TooLong) => {
                    Err(serde::de::Error::custom(e.describe(other)))
                }
                _ => Err(serde::de::Error::custom(format!(
                    "`{other}` is not `until_release`, `off` or a duration like `2h`"
                ))),
            },
        }
    }
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
            bulk_share: 0.0,
            daily_template_cap: None,
            spend_limit: None,
            echo_pause: EchoPause::default(),
            portfolio: None,
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

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetaSettings {
    /// Meta's id of the number (webhooks are routed by it).
    pub phone_number_id: String,
    /// The Graph API access token; `${META_ACCESS_TOKEN}` keeps it out of the file.
    pub access_token: String,
    /// The app secret that checks webhooks' X-Hub-Signature-256.
    pub app_secret: String,
    /// The token of the GET /webhooks/meta handshake.
    pub verify_token: String,
    /// The Graph API's base URL with its version, like `https://graph.facebook.com/v26.0`.
    #[serde(default = "default_meta_api_base")]
    pub api_base: String,
    /// Meta's conversation routing on a number shared with other apps (a helpdesk, Meta's
    /// Business Agent): whose thread Parley answers, where a `handoff` passes it. Absent:
    /// Parley behaves as the number's only app (no thread-control calls, no send refused).
    #[serde(default)]
    pub routing: Option<RoutingSettings>,
}

/// Conversation routing for one Meta sender (README "Sharing a number").
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    /// This Parley's Meta app id, to tell handovers naming Parley from those naming another
    /// app. Optional: without it a `control_passed` is taken as passed to Parley.
    #[serde(default)]
    pub app_id: Option<String>,
    /// The app a flow's `handoff` passes the thread to: the number's escalation partner's
    /// app id, or `ai_agent` for Meta's Business Agent. Absent: a handoff only pauses the
    /// flow, as without routing.
    #[serde(default)]
    pub escalation_app: Option<String>,
    /// Take the thread back (`take`) when a handoff that passed it ends (released, timed
    /// out). `false`: wait for the other app to pass it back (`control_passed`).
    #[serde(default = "default_take_back")]
    pub take_back: bool,
}

fn default_take_back() -> bool {
    true
}

/// App ids are Meta's digits; the escalation app may also be Meta's Business Agent.
fn routing_problems(at: &str, r: &RoutingSettings, problems: &mut Vec<String>) {
    let digits = |v: &str| !v.is_empty() && v.len() <= 32 && v.bytes().all(|b| b.is_ascii_digit());
    if let Some(id) = r.app_id.as_deref().map(str::trim) {
        if !digits(id) {
            problems.push(format!(
                "{at}.app_id: `{id}` is not a Meta app id: copy the app's id (digits only) from                  Meta's App Dashboard, or leave app_id out"
            ));
        }
    }
    if let Some(app) = r.escalation_app.as_deref().map(str::trim) {
        if !digits(app) && app != "ai_agent" {
            problems.push(format!(
                "{at}.escalation_app: `{app}` is neither a Meta app id (digits only) nor                  `ai_agent` (Meta's Business Agent)"
            ));
        }
    }
}

fn default_meta_api_base() -> String {
    format!(
        "https://graph.facebook.com/{}",
        crate::domain::graph_versions::DEFAULT_VERSION
    )
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TwilioSettings {
    /// The account SID; `${TWILIO_ACCOUNT_SID}` keeps it out of the file.
    pub account_sid: String,
    /// The auth token that checks X-Twilio-Signature.
    pub auth_token: String,
    /// Twilio's API base URL (https://api.twilio.com).
    #[serde(default = "default_twilio_api_base")]
    pub api_base: String,
    /// Status callback URL Twilio should call for this sender's messages; defaults to
    /// `{public_url}/webhooks/twilio` when `public_url` is set.
    #[serde(default)]
    pub status_callback: Option<String>,
    /// Where Twilio's Content API lives (`POST /v1/Content` creates the quick-reply and
    /// list-picker templates that carry buttons and lists); tests point it at a double.
    #[serde(default = "default_twilio_content_api_base")]
    pub content_api_base: String,
    /// Where Twilio's Messaging v2 API lives (`POST /v2/Indicators/Typing.json`).
    #[serde(default = "default_twilio_messaging_api_base")]
    pub messaging_api_base: String,
    /// How buttons and lists go out: `content` (real WhatsApp interactive messages through
    /// the Content API, the default) or `text` (numbered options in plain text).
    #[serde(default)]
    pub interactive: TwilioInteractive,
    /// Shows "typing…" through Twilio's typing indicator (a Public Beta in 2025–26);
    /// `false` makes `typing: true` flows show nothing on this sender.
    #[serde(default = "yes")]
    pub typing_indicator: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TwilioInteractive {
    #[default]
    Content,
    Text,
}

fn yes() -> bool {
    true
}

fn default_twilio_api_base() -> String {
    "https://api.twilio.com".into()
}

fn default_twilio_content_api_base() -> String {
    "https://content.twilio.com".into()
}

fn default_twilio_messaging_api_base() -> String {
    "https://messaging.twilio.com".into()
}

/// The checks across `senders:` entries; each problem starts with the entry's path.
pub(crate) fn sender_problems(senders: &[SenderConfig], problems: &mut Vec<String>) {
    let mut ids = HashSet::new();
    let mut numbers = HashSet::new();
    let mut phone_number_ids = HashSet::new();
    for (i, s) in senders.iter().enumerate() {
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
        if !(0.0..=0.5).contains(&s.bulk_share) {
            problems.push(format!(
                "{at}.bulk_share: {} is not a share from 0 to 0.5 (0: replies to customers who are writing always go first; 0.25: bulk sends keep one slot in four while replies wait)",
                s.bulk_share
            ));
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
                    let id = m.phone_number_id.trim();
                    if !id.is_empty() && !id.bytes().all(|b| b.is_ascii_digit()) {
                        problems.push(format!(
                            "{at}.meta.phone_number_id: `{id}` is not a phone number ID: copy the \
                             number's ID (digits only, like 106540352242922) from Meta's App \
                             Dashboard → WhatsApp → API Setup, not the phone number itself"
                        ));
                    }
                    url_problem(
                        &format!("{at}.meta.api_base"),
                        &m.api_base,
                        &default_meta_api_base(),
                        problems,
                    );
                    if let Some(r) = &m.routing {
                        routing_problems(&format!("{at}.meta.routing"), r, problems);
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
                    for (key, value, example) in [
                        ("api_base", &t.api_base, default_twilio_api_base()),
                        ("content_api_base", &t.content_api_base, default_twilio_content_api_base()),
                        ("messaging_api_base", &t.messaging_api_base, default_twilio_messaging_api_base()),
                    ] {
                        url_problem(&format!("{at}.twilio.{key}"), value, &example, problems);
                    }
                    if let Some(callback) = &t.status_callback {
                        url_problem(
                            &format!("{at}.twilio.status_callback"),
                            callback,
                            "https://bot.example.com/webhooks/twilio",
                            problems,
                        );
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

/// A problem when `value`, at `key`, is not a whole http(s) URL (`graph.facebook.com/v26.0`
/// would fail every send at run time); `example` shows one.
fn url_problem(key: &str, value: &str, example: &str, problems: &mut Vec<String>) {
    let whole = url::Url::parse(value.trim())
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !whole {
        problems.push(format!(
            "{key}: `{value}` is not a whole URL: write it with https:// and the host, like {example}"
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn load(share: &str) -> Result<Config, String> {
        let text = format!(
            "senders:\n  - {{ id: 1, name: a, channel: sandbox, phone_number: \"+15550783883\", messages_per_second: 80, bulk_share: {share} }}\n"
        );
        Config::from_yaml(&text, "parley.yaml", &|_| None).map_err(|e| e.to_string())
    }

    #[test]
    fn bulk_share_is_a_share_from_0_to_one_half_and_0_unless_given() {
        assert_eq!(load("0.25").unwrap().senders[0].bulk_share, 0.25);
        assert_eq!(load("0.5").unwrap().senders[0].bulk_share, 0.5);
        let none = Config::from_yaml(
            "senders:\n  - { id: 1, name: a, channel: sandbox, phone_number: \"+15550783883\" }\n",
            "parley.yaml",
            &|_| None,
        )
        .unwrap();
        assert_eq!(none.senders[0].bulk_share, 0.0);
        for bad in ["0.6", "-0.1", ".nan"] {
            let problem = load(bad).unwrap_err();
            assert!(
                problem.contains("senders[0].bulk_share:")
                    && problem.contains("is not a share from 0 to 0.5"),
                "{bad}: {problem}"
            );
        }
    }
}
