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
fn errors_name_the_key_path_and_reason() {
    insta::assert_snapshot!(problems("listen: 1.2.3.4:80\nlisten_port: 3\n"), @"parley.yaml: listen_port: unknown field `listen_port`, expected one of `listen`, `public_url`, `database`, `flows`, `window`, `senders`, `templates`, `api_keys`, `rate_limit`, `webhooks`, `inbox`, `outbox`, `log`, `opt_out`, `scheduler`, `api`, `sandbox`, `http`, `scripts`");
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
    senders[0].meta: a sender with channel: meta needs phone_number_id, access_token, app_secret and verify_token
    senders[1].id: sender id 1 is used twice
    senders[1].phone_number: +15550783881 belongs to another sender too
    api_keys[0].key_sha256: must be 64 hex characters (run `parley keygen`)
    ");
}

#[test]
fn dollar_dollar_escapes_a_literal() {
    let cfg = load("public_url: \"https://x.example/$${path}\"\n").unwrap();
    assert_eq!(cfg.public_url.as_deref(), Some("https://x.example/${path}"));
}

#[test]
fn example_config_file_is_valid() {
    let text = include_str!("../../config.example.yaml");
    let cfg = load(text).unwrap();
    assert!(cfg.senders.is_empty());
    assert_eq!(cfg.templates.len(), 2);
    assert_eq!(cfg.outbox.retry.max_attempts, 50);
}
