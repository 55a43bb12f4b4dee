use super::*;
use crate::config::{Config, SandboxConfig};
use crate::domain::{
    ContactRef, DeliveryStatus, ErrorClass, ManualClock, OutboundContent, PhoneNumber,
    TemplateMessage, WindowPolicy,
};
use std::collections::{BTreeMap, HashSet};

fn text(body: &str) -> OutboundMessage {
    OutboundMessage {
        to: ContactRef::Phone(PhoneNumber::parse("+16315551181").unwrap()),
        content: OutboundContent::Text {
            body: body.into(),
            preview_url: false,
        },
        trace: None,
    }
}

fn template(name: &str, vars: &[&str]) -> OutboundMessage {
    OutboundMessage {
        to: ContactRef::Phone(PhoneNumber::parse("+16315551181").unwrap()),
        content: OutboundContent::Template(TemplateMessage {
            name: name.into(),
            language: "en".into(),
            variables: vars
                .iter()
                .enumerate()
                .map(|(i, v)| ((i + 1).to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            quick_reply_payloads: vec![],
            content_sid: None,
        }),
        trace: None,
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A sandbox behaving like Meta, on a manual clock, with the templates of `yaml`.
fn meta_like(config: SandboxConfig) -> (SandboxChannel, ManualClock, Arc<SandboxRules>) {
    let clock = ManualClock::new(at("2026-01-01T12:00:00Z"));
    let cfg = Config::from_yaml(
        r#"
templates:
  - { id: 1, name: menu_reminder, language: en, status: approved, body: "Hi {{1}}, reply MENU." }
  - { id: 2, name: promo, language: en, status: paused, body: "Offers!" }
  - { id: 3, name: draft, language: en, status: pending, body: "Soon" }
"#,
        "t.yaml",
        &|_| None,
    )
    .unwrap();
    let sandbox = SandboxChannel::new().for_sender(3);
    let rules = SandboxRules::new(config, cfg.templates, WindowPolicy::default());
    sandbox.attach(Arc::new(clock.clone()), rules);
    let rules = sandbox.rules().unwrap();
    (sandbox, clock, rules)
}

fn code(r: Result<SendOk, SendFailure>) -> (Option<i64>, ErrorClass) {
    let f = r.expect_err("the sandbox should refuse this send");
    (f.code, f.class)
}

#[tokio::test]
async fn send_records_the_message_with_its_id_and_time() {
    let at = at("2026-01-01T00:00:12Z");
    let sandbox = SandboxChannel::with_clock(Arc::new(ManualClock::new(at)));
    let ok = sandbox.send(&text("Hello")).await.unwrap();
    assert!(ok.provider_message_id.starts_with("sandbox."));
    assert_eq!(
        sandbox.sent(),
        vec![SandboxSend {
            provider_message_id: ok.provider_message_id,
            message: text("Hello"),
            sent_at: at,
            sender_id: None,
        }]
    );
}

#[tokio::test]
async fn clones_share_one_history_with_distinct_ids() {
    let sandbox = SandboxChannel::new();
    let other = sandbox.for_sender(7);
    let a = sandbox.send(&text("one")).await.unwrap();
    let b = other.send(&text("two")).await.unwrap();
    assert_ne!(a.provider_message_id, b.provider_message_id);
    let sent = sandbox.sent();
    let bodies: Vec<_> = sent.iter().map(|s| s.message.clone()).collect();
    assert_eq!(bodies, vec![text("one"), text("two")]);
    assert_eq!(sent[1].sender_id, Some(7));
    other.clear();
    assert!(sandbox.sent().is_empty());
}

#[tokio::test]
async fn history_keeps_only_the_most_recent_sends() {
    let sandbox = SandboxChannel::new();
    for i in 0..SANDBOX_HISTORY_LIMIT + 5 {
        sandbox.send(&text(&i.to_string())).await.unwrap();
    }
    let sent = sandbox.sent();
    assert_eq!(sent.len(), SANDBOX_HISTORY_LIMIT);
    assert_eq!(sent[0].message, text("5"));
    let ids: HashSet<_> = sent.iter().map(|s| &s.provider_message_id).collect();
    assert_eq!(ids.len(), SANDBOX_HISTORY_LIMIT);
}

#[tokio::test]
async fn health_is_always_good_and_says_nothing_is_sent() {
    let health = SandboxChannel::new().check_health().await;
    assert!(health.reachable && health.credentials_valid);
    assert_eq!(
        health.detail,
        "sandbox channel: messages are recorded, never sent"
    );
}

#[tokio::test]
async fn freeform_outside_the_window_is_refused_with_131047() {
    let (sandbox, clock, rules) = meta_like(SandboxConfig::default());
    assert_eq!(
        code(sandbox.send(&text("never wrote")).await),
        (Some(131047), ErrorClass::WindowClosed)
    );
    rules.note_inbound("+16315551181", clock.now());
    clock.advance(chrono::Duration::hours(23));
    sandbox.send(&text("inside")).await.unwrap();
    clock.advance(chrono::Duration::hours(2));
    assert_eq!(
        code(sandbox.send(&text("too late")).await),
        (Some(131047), ErrorClass::WindowClosed)
    );
    // A template needs no window.
    sandbox
        .send(&template("menu_reminder", &["Ana"]))
        .await
        .unwrap();
    assert_eq!(sandbox.sent().len(), 2);
}

#[tokio::test]
async fn templates_are_checked_like_meta_does() {
    let (sandbox, _, _) = meta_like(SandboxConfig::default());
    let missing = sandbox.send(&template("nope", &[])).await.unwrap_err();
    assert_eq!(missing.code, Some(132001));
    assert_eq!(missing.class, ErrorClass::Permanent);
    assert!(missing
        .title
        .starts_with("Template name does not exist in the translation"));
    assert_eq!(
        code(sandbox.send(&template("promo", &[])).await).0,
        Some(132015)
    );
    let draft = sandbox.send(&template("draft", &[])).await.unwrap_err();
    assert_eq!(draft.code, Some(132001));
    assert!(
        draft.title.ends_with("`draft` is pending, not approved"),
        "{}",
        draft.title
    );
    assert_eq!(
        code(sandbox.send(&template("menu_reminder", &[])).await).0,
        Some(132000)
    );
}

#[tokio::test]
async fn pair_rate_and_throughput_errors_when_configured() {
    let (sandbox, clock, rules) = meta_like(SandboxConfig {
        pair_rate_limit: Some(std::time::Duration::from_secs(6)),
        throughput: Some(2),
        ..Default::default()
    });
    rules.note_inbound("+16315551181", clock.now());
    rules.note_inbound("+447700900123", clock.now());
    sandbox.send(&text("one")).await.unwrap();
    assert_eq!(
        code(sandbox.send(&text("two")).await),
        (Some(131056), ErrorClass::Retry)
    );
    clock.advance(chrono::Duration::seconds(6));
    sandbox.send(&text("two")).await.unwrap();
    let mut other = text("other");
    other.to = ContactRef::Phone(PhoneNumber::parse("+447700900123").unwrap());
    sandbox.send(&other).await.unwrap();
    let mut third = text("third");
    third.to = ContactRef::Phone(PhoneNumber::parse("+34600000001").unwrap());
    rules.note_inbound("+34600000001", clock.now());
    assert_eq!(
        code(sandbox.send(&third).await),
        (Some(130429), ErrorClass::Retry)
    );
    clock.advance(chrono::Duration::seconds(1));
    sandbox.send(&third).await.unwrap();
}

#[test]
fn status_plan_can_duplicate_and_reverse() {
    let (_, _, rules) = meta_like(SandboxConfig::default());
    let order: Vec<_> = statuses::plan(&rules).into_iter().map(|(_, s)| s).collect();
    use DeliveryStatus::*;
    assert_eq!(order, vec![Sent, Delivered, Read]);
    let mut config = SandboxConfig::default();
    config.statuses.out_of_order = true;
    config.statuses.duplicates = true;
    config.statuses.read_after = None;
    let (_, _, rules) = meta_like(config);
    let plan = statuses::plan(&rules);
    let order: Vec<_> = plan.iter().map(|(_, s)| *s).collect();
    assert_eq!(order, vec![Delivered, Delivered, Sent, Sent]);
    assert!(plan.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[tokio::test]
async fn typing_shows_until_a_reply_or_whatsapps_25_seconds() {
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let sandbox = SandboxChannel::with_clock(Arc::new(clock.clone()));
    let ana = ContactRef::Phone(PhoneNumber::parse("+16315551181").unwrap());
    let bo = ContactRef::Phone(PhoneNumber::parse("+16315551182").unwrap());
    assert!(!sandbox.is_typing(&ana));
    sandbox.show_typing(&ana, "sandbox.in.1").await.unwrap();
    assert!(sandbox.is_typing(&ana));
    assert!(!sandbox.is_typing(&bo), "only the customer it was shown to");
    // A reply ends it, as on WhatsApp.
    sandbox.send(&text("Here you are")).await.unwrap();
    assert!(!sandbox.is_typing(&ana));
    // Shown again and never renewed: gone after 25 s.
    sandbox.show_typing(&ana, "sandbox.in.2").await.unwrap();
    clock.advance(chrono::Duration::seconds(24));
    assert!(sandbox.is_typing(&ana));
    clock.advance(chrono::Duration::seconds(1));
    assert!(!sandbox.is_typing(&ana));
}
