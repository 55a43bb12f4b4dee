use super::*;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_yaml(text, "parley.yaml", &|name| match name {
        "META_TOKEN" => Some("secret-token".into()),
        _ => None,
    })
}

fn problems(text: &str) -> String {
    load(text)
        .expect_err("config should be rejected")
        .to_string()
}

#[test]
fn empty_file_gives_documented_defaults() {
    let cfg = load("").unwrap();
    assert_eq!(cfg.listen, "127.0.0.1:8080");
    assert_eq!(cfg.database.url, "sqlite://parley.db");
    assert_eq!(cfg.flows.dir, "flows");
    assert_eq!(cfg.window.duration, std::time::Duration::from_secs(86_400));
    assert_eq!(cfg.rate_limit.per_second, 5);
    assert!(cfg.senders.is_empty());
}

#[test]
fn embedded_default_has_one_sandbox_sender() {
    let cfg = Config::embedded_default();
    assert_eq!(cfg.senders.len(), 1);
    assert_eq!(cfg.senders[0].channel, ChannelKind::Sandbox);
    assert_eq!(cfg.templates.len(), 2, "the example flows' templates");
    assert!(cfg.validate().is_empty());
}

#[test]
fn design_example_parses_with_env_substitution() {
    let cfg = load(
        r#"
listen: 0.0.0.0:9000
database: { url: "sqlite://x.db" }
window: { duration: 2h }
senders:
  - id: 1
    name: Support
    channel: meta
    phone_number: "+15550783881"
    meta:
      phone_number_id: "106540352242922"
      access_token: ${META_TOKEN}
      app_secret: s
      verify_token: v
templates:
  - { id: 45, name: menu_reminder, language: en, status: approved, body: "Hi {{1}}, reply MENU to continue." }
"#,
    )
    .unwrap();
    assert_eq!(
        cfg.senders[0].meta.as_ref().unwrap().access_token,
        "secret-token"
    );
    assert_eq!(cfg.window.duration, std::time::Duration::from_secs(7200));
    assert_eq!(cfg.templates[0].placeholders(), vec!["1".to_string()]);
    assert_eq!(cfg.senders[0].pace(), Some(80));
}

#[test]
fn a_bare_number_for_a_duration_or_listen_says_what_to_write() {
    insta::assert_snapshot!(
        problems("inbox: { lease: 30 }\n"),
        @"parley.yaml: inbox.lease: `30` has no unit; write it like 30s (seconds), 30m (minutes) or 30h (hours)"
    );
    insta::assert_snapshot!(
        problems("listen: 18432\n"),
        @"parley.yaml: listen: `18432` is a port alone; write the address with it, like 127.0.0.1:18432"
    );
    // An optional duration too, and the text forms are unchanged.
    assert!(problems("window: { duration: 2 }\n").contains("write it like 2s"));
    assert_eq!(
        load("inbox: { lease: 30s }\nlisten: 127.0.0.1:9\n")
            .unwrap()
            .listen,
        "127.0.0.1:9"
    );
}

#[test]
fn errors_name_the_key_path_and_reason() {
    insta::assert_snapshot!(problems("listen: 1.2.3.4:80\nlisten_port: 3\n"), @"parley.yaml: listen_port: unknown field `listen_port`, expected one of `listen`, `public_url`, `database`, `flows`, `window`, `senders`, `templates`, `api_keys`, `rate_limit`, `webhooks`, `inbox`, `outbox`, `log`, `opt_out`, `scheduler`, `broadcasts`, `portfolios`, `marketing`, `api`, `sandbox`, `studio`, `events`, `chatwoot`, `http`, `scripts`, `media`, `models`, `transcribe`, `pricing`, `retention`, `telemetry`");
    insta::assert_snapshot!(problems("window: { duration: soon }\n"), @"parley.yaml: window.duration: `soon` is not a duration (expected number at 0); write it like 24h, 10m, 30s or 500ms");
    insta::assert_snapshot!(
        problems("senders:\n  - { id: 1, name: a, channel: metta, phone_number: '+15550783881' }\n"),
        @"parley.yaml: senders[0].channel: unknown variant `metta`, expected one of `meta`, `twilio`, `sandbox`"
    );
    insta::assert_snapshot!(
        problems("senders:\n  - { id: 1, name: a, channel: sandbox, phone_number: '12' }\n"),
        @"parley.yaml: senders[0].phone_number: phone number must have between 8 and 15 digits including the country code, found 2"
    );
}

#[test]
fn missing_environment_variable_is_named() {
    insta::assert_snapshot!(
        problems("database: { url: \"${DATABASE_URL}\" }\n"),
        @"parley.yaml: database.url: environment variable DATABASE_URL is not set"
    );
}

#[test]
fn cross_key_problems_are_all_reported() {
    let text = r#"
database: { url: "mysql://x" }
senders:
  - { id: 1, name: a, channel: meta, phone_number: "+15550783881" }
  - { id: 1, name: b, channel: sandbox, phone_number: "+15550783881" }
api_keys:
  - { name: crm, key_sha256: "abc" }
"#;
    insta::assert_snapshot!(problems(text), @r"
    parley.yaml: database.url: `mysql://x` must start with sqlite:// or postgres://
    parley.yaml: senders[0].meta: a sender with channel: meta needs phone_number_id, access_token, app_secret and verify_token
    parley.yaml: senders[1].id: sender id 1 is used twice
    parley.yaml: senders[1].phone_number: +15550783881 belongs to another sender too
    parley.yaml: api_keys[0].key_sha256: must be 64 hex characters (run `parley keygen`)
    ");
}

#[test]
fn dollar_dollar_escapes_a_literal() {
    let cfg = load("public_url: \"https://x.example/$${path}\"\n").unwrap();
    assert_eq!(cfg.public_url.as_deref(), Some("https://x.example/${path}"));
}

#[test]
fn example_config_file_is_valid() {
    let text = include_str!("../../../../config.example.yaml");
    let cfg = load(text).unwrap();
    assert!(cfg.senders.is_empty());
    assert_eq!(cfg.templates.len(), 2);
    assert_eq!(cfg.outbox.retry.max_attempts, 50);
}

#[test]
fn a_missing_variable_does_not_hide_the_other_problems() {
    let text = r#"
listen: nowhere
senders:
  - { id: 1, name: a, channel: metta, phone_number: "+15550783881" }
  - id: 2
    name: b
    channel: twilio
    phone_number: "+15550783882"
    twilio: { account_sid: "${TWILIO_ACCOUNT_SID}", auth_token: "${TWILIO_AUTH_TOKEN}" }
  - { id: 2, name: c, channel: sandbox, phone_number: "+15550783883" }
window: { duration: soon }
"#;
    insta::assert_snapshot!(problems(text), @r"
    parley.yaml: senders[1].twilio.account_sid: environment variable TWILIO_ACCOUNT_SID is not set
    parley.yaml: senders[1].twilio.auth_token: environment variable TWILIO_AUTH_TOKEN is not set
    parley.yaml: senders[0].channel: unknown variant `metta`, expected one of `meta`, `twilio`, `sandbox`
    parley.yaml: window.duration: `soon` is not a duration (expected number at 0); write it like 24h, 10m, 30s or 500ms
    parley.yaml: listen: `nowhere` is not an address like 127.0.0.1:8080
    parley.yaml: senders[2].id: sender id 2 is used twice
    ");
}

#[test]
fn an_unresolved_reference_is_reported_once_not_again_by_validation() {
    insta::assert_snapshot!(
        problems("database: { url: \"${DATABASE_URL}\" }\nsenders:\n  - { id: 1, name: a, channel: sandbox, phone_number: \"${PHONE}\" }\n"),
        @r"
    parley.yaml: database.url: environment variable DATABASE_URL is not set
    parley.yaml: senders[0].phone_number: environment variable PHONE is not set
    "
    );
}

#[test]
fn an_env_reference_inside_a_flow_mapping_gets_a_hint() {
    let text = "senders:\n  - id: 2\n    name: Twilio line\n    channel: twilio\n    phone_number: \"+14155238886\"\n    twilio: { account_sid: ${TWILIO_ACCOUNT_SID}, auth_token: ${TWILIO_AUTH_TOKEN} }\n";
    let err = problems(text);
    assert!(err.starts_with("parley.yaml:6:"), "{err}");
    assert!(err.contains("this is not valid YAML"), "{err}");
    assert!(
        err.contains("hint: quote it: account_sid: \"${TWILIO_ACCOUNT_SID}\", or write the mapping on several lines"),
        "{err}"
    );
    // The reference the hint names is the bare one, not one quoted already.
    let text = text.replace(
        "account_sid: ${TWILIO_ACCOUNT_SID}",
        "account_sid: \"${TWILIO_ACCOUNT_SID}\"",
    );
    let err = problems(&text);
    assert!(
        err.contains("hint: quote it: auth_token: \"${TWILIO_AUTH_TOKEN}\""),
        "{err}"
    );
    // Another syntax error gets its place and no such hint.
    let err = problems("listen: [1.2.3.4\n");
    assert!(err.starts_with("parley.yaml:"), "{err}");
    assert!(!err.contains("hint"), "{err}");
}

/// The first ```yaml block after `heading` in README.md.
fn readme_yaml_after(heading: &str) -> String {
    let readme = include_str!("../../../../README.md");
    let section = &readme[readme.find(heading).expect("the README has the heading")..];
    let start = section.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = section[start..].find("\n```").expect("the block is closed");
    section[start..start + end].to_string()
}

#[test]
fn the_readme_configuration_example_parses() {
    let text = readme_yaml_after("\n## Configuration\n");
    let cfg = Config::from_yaml(&text, "README.md", &|name| Some(format!("dummy-{name}")))
        .unwrap_or_else(|e| panic!("the README's example config:\n{e}"));
    assert_eq!(cfg.senders.len(), 3);
    assert_eq!(
        cfg.senders[1].twilio.as_ref().unwrap().account_sid,
        "dummy-TWILIO_ACCOUNT_SID"
    );
}

#[test]
fn check_warns_about_what_a_deployment_lacks() {
    let cfg = load("").unwrap();
    let warnings = cfg.warnings(0).join("\n");
    assert!(warnings.contains("no flows in "), "{warnings}");
    assert!(warnings.contains("or set flows.dir"), "{warnings}");
    assert!(
        warnings.contains("no senders configured: nothing can reach Parley: add a sender, see config.example.yaml"),
        "{warnings}"
    );
    assert!(
        warnings.contains(
            "no api_keys configured: the API answers 401 to every request; run `parley keygen`"
        ),
        "{warnings}"
    );
    let mut cfg = Config::embedded_default();
    cfg.api_keys.push(ApiKeyConfig {
        name: "crm".into(),
        key_sha256: "0".repeat(64),
        scopes: None,
        senders: None,
        expires: None,
    });
    assert!(cfg.warnings(3).is_empty());
}

#[test]
fn provider_urls_and_a_pasted_phone_number_are_refused_at_load() {
    let text = r#"
senders:
  - id: 1
    name: Support
    channel: meta
    phone_number: "+15550783881"
    meta: { phone_number_id: "+15550783881", access_token: t, app_secret: s, verify_token: v, api_base: graph.facebook.com/v26.0 }
  - id: 2
    name: Twilio
    channel: twilio
    phone_number: "+15550783882"
    twilio: { account_sid: ACx, auth_token: t, api_base: api.twilio.com, status_callback: /webhooks/twilio, messaging_api_base: "ftp://messaging.twilio.com" }
"#;
    insta::assert_snapshot!(problems(text), @r"
    parley.yaml: senders[0].meta.phone_number_id: `+15550783881` is not a phone number ID: copy the number's ID (digits only, like 106540352242922) from Meta's App Dashboard → WhatsApp → API Setup, not the phone number itself
    parley.yaml: senders[0].meta.api_base: `graph.facebook.com/v26.0` is not a whole URL: write it with https:// and the host, like https://graph.facebook.com/v26.0
    parley.yaml: senders[1].twilio.api_base: `api.twilio.com` is not a whole URL: write it with https:// and the host, like https://api.twilio.com
    parley.yaml: senders[1].twilio.messaging_api_base: `ftp://messaging.twilio.com` is not a whole URL: write it with https:// and the host, like https://messaging.twilio.com
    parley.yaml: senders[1].twilio.status_callback: `/webhooks/twilio` is not a whole URL: write it with https:// and the host, like https://bot.example.com/webhooks/twilio
    ");
}

/// Traps on the road from the sandbox to production: a manual clock beside real senders
/// (their customers' windows and waits follow it), a Twilio sender without `public_url`
/// (signatures checked against a rebuilt URL, no status callbacks), and a `public_url`
/// that names the webhook path Parley adds itself.
#[test]
fn warns_of_a_manual_clock_beside_real_senders_and_twilio_without_public_url() {
    let twilio = "senders:\n  - id: 2\n    name: Twilio line\n    channel: twilio\n    phone_number: \"+14155238886\"\n    twilio: { account_sid: ACx, auth_token: t }\napi_keys: [{ name: crm, key_sha256: \"0000000000000000000000000000000000000000000000000000000000000000\" }]\n";
    let text = load(&format!("{twilio}sandbox: {{ manual_clock: true }}\n"))
        .unwrap()
        .warnings(1)
        .join("\n");
    assert!(
        text.contains("sandbox.manual_clock: the sandbox's clock is Parley's clock, so it also stands still (or jumps) for the conversations of sender 2"),
        "{text}"
    );
    assert!(
        text.contains("no public_url with a Twilio sender (2)"),
        "{text}"
    );
    let text = load(&format!("{twilio}public_url: https://bot.example.com\n"))
        .unwrap()
        .warnings(1)
        .join("\n");
    assert!(text.is_empty(), "{text}");
    // A host named `webhooks…` or a proxy's path prefix is fine.
    for fine in [
        "https://webhooks.example.com",
        "https://example.com/parley/",
    ] {
        assert!(
            load(&format!("{twilio}public_url: {fine}\n")).is_ok(),
            "{fine}"
        );
    }
    let mut sandbox_only = Config::embedded_default();
    sandbox_only.sandbox.manual_clock = true;
    let text = sandbox_only.warnings(1).join("\n");
    assert!(!text.contains("manual_clock"), "{text}");
    let e = problems(&format!(
        "{twilio}public_url: https://bot.example.com/webhooks/twilio\n"
    ));
    assert!(
        e.contains("public_url: `https://bot.example.com/webhooks/twilio` names a webhook path"),
        "{e}"
    );
}

#[test]
fn warns_about_a_graph_api_version_meta_retires_soon() {
    let sender = |version: &str| {
        format!(
            r#"
senders:
  - id: 1
    name: Support
    channel: meta
    phone_number: "+15550001111"
    meta: {{ phone_number_id: "1", access_token: t, app_secret: s, verify_token: v{version} }}
"#
        )
    };
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let old = load(&sender(", api_base: https://graph.facebook.com/v21.0")).unwrap();
    let text = old.warnings_on(1, today).join("\n");
    assert!(
        text.contains("senders[0] (Support) uses Graph API v21.0, which Meta retires on 2027-01-21 (in 59 days)"),
        "{text}"
    );
    let default = load(&sender("")).unwrap();
    assert_eq!(
        default.senders[0].meta.as_ref().unwrap().api_base,
        "https://graph.facebook.com/v26.0"
    );
    let text = default.warnings_on(1, today).join("\n");
    assert!(!text.contains("Graph API"), "{text}");
}

#[test]
fn echo_pause_is_until_release_off_or_a_duration() {
    use crate::config::EchoPause;
    let with = |v: &str| {
        load(&format!(
            "senders:\n  - {{ id: 1, name: a, channel: sandbox, phone_number: \"+15550783881\", echo_pause: {v} }}\n"
        ))
    };
    assert_eq!(
        with("until_release").unwrap().senders[0].echo_pause,
        EchoPause::UntilRelease
    );
    assert_eq!(with("off").unwrap().senders[0].echo_pause, EchoPause::Off);
    assert_eq!(
        with("2h").unwrap().senders[0].echo_pause,
        EchoPause::For(std::time::Duration::from_secs(7200))
    );
    let err = with("sometimes").unwrap_err().to_string();
    assert!(
        err.contains("`sometimes` is not `until_release`, `off` or a duration"),
        "{err}"
    );
    let default = load(
        "senders:\n  - { id: 1, name: a, channel: sandbox, phone_number: \"+15550783881\" }\n",
    );
    assert_eq!(
        default.unwrap().senders[0].echo_pause,
        EchoPause::UntilRelease
    );
}

#[test]
fn portfolios_limits_and_marketing_regions_name_their_key() {
    let text = "portfolios: [{ id: main, messaging_limit: 1000 }]\n";
    let p = problems(text);
    assert!(
        p.contains("portfolios[0].messaging_limit")
            && p.contains("250, 2000, 10000, 100000 or unlimited"),
        "{p}"
    );
    let text = "portfolios:\n  - { id: main, messaging_limit: unlimited }\n  - { id: main, messaging_limit: 250 }\nsenders:\n  - { id: 1, name: a, channel: sandbox, phone_number: \"+15550783883\", portfolio: other }\nmarketing: { hold_regions: [\"+1\"] }\nbroadcasts: { page_size: 0 }\n";
    insta::assert_snapshot!(problems(text), @r#"
    parley.yaml: broadcasts.page_size: must be between 1 and 5000
    parley.yaml: marketing.hold_regions[0]: `+1` is not a calling code like "1" or "44" (digits, no +)
    parley.yaml: portfolios[1].id: `main` is declared twice
    parley.yaml: senders[0].portfolio: `other` is not under `portfolios:`; declare it with its messaging_limit
    "#);
    let cfg = load("portfolios: [{ id: main, messaging_limit: \"2000\" }]\n").unwrap();
    assert_eq!(
        cfg.portfolios[0].messaging_limit,
        crate::domain::broadcast::MessagingLimit::Tier(2000)
    );
    assert_eq!(cfg.marketing.hold_regions, vec!["1".to_string()]);
}

/// Twilio sends a template only by its Content SID: a template without one is a warning as
/// soon as a Twilio sender exists, naming the template and the senders it would fail from.
#[test]
fn a_template_without_a_twilio_content_sid_is_a_warning_beside_a_twilio_sender() {
    let with = |senders: &str| {
        load(&format!(
            "senders:\n{senders}templates:\n  - {{ id: 45, name: menu_reminder, language: en, category: utility, status: approved, body: \"Hi {{{{1}}}}\" }}\n  - {{ id: 46, name: order_update, language: en, category: utility, status: approved, body: \"Order {{{{1}}}}\", twilio_content_sid: HX0123456789abcdef0123456789abcdef }}\n"
        ))
        .unwrap()
        .warnings(1)
        .join("\n")
    };
    let twilio = "  - { id: 2, name: t, channel: twilio, phone_number: \"+14155238886\", twilio: { account_sid: AC1, auth_token: tok } }\n";
    let text = with(twilio);
    assert!(
        text.contains("templates[0] (`menu_reminder`, en) has no twilio_content_sid: Twilio sends a template only by its Content SID (HX…), so a message with it from the Twilio sender 2 fails"),
        "{text}"
    );
    assert!(!text.contains("templates[1]"), "{text}");
    let sandbox = "  - { id: 3, name: s, channel: sandbox, phone_number: \"+15550783883\" }\n";
    assert!(!with(sandbox).contains("twilio_content_sid"));
}

/// Conversation routing's app ids are digits (or `ai_agent` for the escalation app); a
/// wrong one is named with its key.
#[test]
fn routing_app_ids_are_checked() {
    let yaml = |routing: &str| {
        format!(
            "senders:\n  - id: 1\n    name: M\n    channel: meta\n    phone_number: \"+15550783881\"\n    meta: {{ phone_number_id: \"1\", access_token: t, app_secret: s, verify_token: v, routing: {routing} }}\n"
        )
    };
    let ok = Config::from_yaml(
        &yaml("{ app_id: \"263\", escalation_app: ai_agent }"),
        "parley.yaml",
        &|_| None,
    )
    .expect("valid routing");
    let r = ok.senders[0]
        .meta
        .as_ref()
        .unwrap()
        .routing
        .as_ref()
        .unwrap();
    assert!(r.take_back, "take_back defaults to true");
    let err = Config::from_yaml(
        &yaml("{ app_id: my-app, escalation_app: helpdesk }"),
        "parley.yaml",
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("senders[0].meta.routing.app_id: `my-app`"),
        "{err}"
    );
    assert!(
        err.contains("senders[0].meta.routing.escalation_app: `helpdesk`"),
        "{err}"
    );
}
