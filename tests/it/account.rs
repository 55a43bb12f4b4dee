//! What Meta says about the account, end to end through signed webhooks and the Graph API
//! double: a paused template is not sent and the templates API says why; WhatsApp's
//! per-user marketing limit (131049) defers a marketing message by a day, never at once; a
//! customer's marketing stop (131050, `user_preferences`) holds marketing templates back
//! while utility templates go on.

use crate::helpers::*;
use parley::domain::DeliveryStatus;
use parley::store::OutboundRecord;
use serde_json::{json, Value};
use std::time::Duration;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/meta");
const CUSTOMER: &str = "+16315551181";

/// A marketing template (50) and a utility one (45, declared by the helpers).
const TEMPLATES: (&str, &str) = (
    "templates:\n",
    "templates:\n  - { id: 50, name: spring_sale, language: en_US, status: approved, category: marketing, body: \"Hi {{1}}, 20% off this week.\" }\n",
);

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

fn options(manual_clock: bool) -> Options {
    Options {
        config_edits: vec![TEMPLATES],
        extra_yaml: crate::api::api_yaml(1000, 1000),
        manual_clock,
        ..Options::default()
    }
}

async fn send_template(app: &TestApp, template_id: i64) -> i64 {
    let r = app
        .http
        .post(format!("{}/api/user/whatsapp/send", app.addr))
        .bearer_auth(crate::api::KEY)
        .json(&json!({"sender_id": 1, "template_id": template_id, "recipient_phone": CUSTOMER, "variables": {"1": "Sheena"}}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["message_id"].as_i64().unwrap()
}

/// `GET /api/user/whatsapp/templates?status=paused`.
async fn paused_templates(app: &TestApp) -> Value {
    app.http
        .get(format!(
            "{}/api/user/whatsapp/templates?status=paused",
            app.addr
        ))
        .bearer_auth(crate::api::KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every message to the customer, once they have a conversation.
async fn sent_to_customer(app: &TestApp) -> Option<Vec<OutboundRecord>> {
    let conv = app.store.find_conversation(1, CUSTOMER).await.unwrap()?;
    Some(
        app.store
            .conversation_outbound(conv.id, None, 100)
            .await
            .unwrap(),
    )
}

/// The outbound record `id` once it left `queued`.
async fn settled(app: &TestApp, id: i64) -> OutboundRecord {
    eventually(Duration::from_secs(10), "the send settled", || async {
        let all = sent_to_customer(app).await?;
        all.into_iter()
            .find(|m| m.id == id && m.status != DeliveryStatus::Queued)
    })
    .await
}

fn template_names(sends: &[Value]) -> Vec<&str> {
    sends
        .iter()
        .map(|s| s["template"]["name"].as_str().unwrap_or("(not a template)"))
        .collect()
}

#[tokio::test]
async fn a_paused_template_is_not_sent_and_the_templates_api_says_why() {
    let app = spawn_with(options(false)).await;
    assert_eq!(
        app.post_meta(&fixture("template_status_paused.json"))
            .await
            .status(),
        200
    );
    let listed = paused_templates(&app).await;
    let sale = &listed["templates"][0];
    assert_eq!(sale["name"], "spring_sale", "{listed}");
    assert_eq!(sale["declared_status"], "approved");
    assert_eq!(sale["meta"]["reason"], "LOW_QUALITY");
    assert_eq!(sale["category"], "marketing");
    let (_, ready) = get_json(&app, "/readyz").await;
    assert_eq!(
        ready["templates_needing_attention"][0]["name"], "spring_sale",
        "{ready}"
    );
    assert_eq!(ready["templates_needing_attention"][0]["status"], "paused");

    let paused = send_template(&app, 50).await;
    let record = settled(&app, paused).await;
    assert_eq!(record.status, DeliveryStatus::Failed);
    let why = record.error_title.unwrap();
    assert!(
        why.contains("template `spring_sale` is paused at Meta"),
        "{why}"
    );
    assert!(why.contains("(LOW_QUALITY)"), "{why}");

    // Meta approves it again: it goes out.
    app.post_meta(&fixture("template_status_approved.json"))
        .await;
    let again = send_template(&app, 50).await;
    assert_eq!(settled(&app, again).await.status, DeliveryStatus::Accepted);
    let sends = app.meta_sends().await;
    assert_eq!(
        template_names(&sends),
        vec!["spring_sale"],
        "the paused send never reached Meta"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_marketing_limit_defers_by_a_day_and_a_marketing_stop_holds_marketing_back() {
    let app = spawn_with(options(true)).await;
    let clock = app.clock.clone().unwrap();
    let first = send_template(&app, 50).await;
    let wamid = settled(&app, first).await.provider_message_id.unwrap();

    // WhatsApp holds it back (131049): nothing is resent at once, and another marketing
    // template to the same customer that day is held back too, without reaching Meta.
    app.post_meta(&meta_status(&wamid, "failed", Some(131049), now_unix()))
        .await;
    let second = send_template(&app, 50).await;
    let held = settled(&app, second).await;
    assert_eq!(held.status, DeliveryStatus::Failed);
    assert!(
        held.error_title
            .as_deref()
            .unwrap()
            .contains("not sent again at once"),
        "{held:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.meta_sends().await.len(), 1);
    // A utility template is not marketing: it goes at once.
    let utility = send_template(&app, 45).await;
    assert_eq!(
        settled(&app, utility).await.status,
        DeliveryStatus::Accepted
    );

    // A day later both copies go, once each.
    clock.advance(chrono::TimeDelta::hours(25));
    let sends = app.wait_meta_sends(4, Duration::from_secs(10)).await;
    assert_eq!(
        template_names(&sends),
        vec!["spring_sale", "menu_reminder", "spring_sale", "spring_sale"]
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.meta_sends().await.len(), 4, "no copy is sent twice");

    // The customer stops marketing (131050 on a send): marketing is skipped, utility goes.
    app.post_meta(&meta_status(
        &wamid_of(&app, 3).await,
        "failed",
        Some(131050),
        now_unix(),
    ))
    .await;
    let skipped = send_template(&app, 50).await;
    let record = settled(&app, skipped).await;
    assert_eq!(record.status, DeliveryStatus::Skipped);
    assert!(
        record
            .error_title
            .as_deref()
            .unwrap()
            .contains("stopped marketing"),
        "{record:?}"
    );
    let utility = send_template(&app, 45).await;
    assert_eq!(
        settled(&app, utility).await.status,
        DeliveryStatus::Accepted
    );

    // They resume marketing in WhatsApp (`user_preferences`), then stop it again.
    let resume = String::from_utf8(fixture("user_preferences_stop.json"))
        .unwrap()
        .replace(r#""value": "stop""#, r#""value": "resume""#);
    assert_eq!(app.post_meta(resume.as_bytes()).await.status(), 200);
    let sale = send_template(&app, 50).await;
    assert_eq!(settled(&app, sale).await.status, DeliveryStatus::Accepted);
    app.post_meta(&fixture("user_preferences_stop.json")).await;
    let stopped = send_template(&app, 50).await;
    assert_eq!(settled(&app, stopped).await.status, DeliveryStatus::Skipped);
    app.shutdown().await;
}

/// The provider id of the `n`-th (0-based) accepted send of the customer's conversation.
async fn wamid_of(app: &TestApp, n: usize) -> String {
    let conv = app
        .store
        .find_conversation(1, CUSTOMER)
        .await
        .unwrap()
        .unwrap();
    let mut all = app
        .store
        .conversation_outbound(conv.id, None, 100)
        .await
        .unwrap();
    all.sort_by_key(|m| m.id);
    all.into_iter()
        .filter_map(|m| m.provider_message_id)
        .nth(n)
        .unwrap()
}

/// A free-form reply that found the window closed goes as its fallback template; when Meta
/// answers that the template is paused (132015), the template is recorded as paused, as
/// for a template sent as such, and the next fallback fails inside Parley.
#[tokio::test]
async fn a_paused_fallback_template_is_recorded_and_not_sent_again() {
    const LATE: &str = "id: late\ntriggers:\n  - keyword: [late]\nsteps:\n  - send:\n      text: \"Still there?\"\n      if_window_closed: { template: spring_sale, variables: { \"1\": \"Sheena\" } }\n";
    let app = spawn_with(Options {
        flows: vec![("late.yaml", LATE)],
        ..options(false)
    })
    .await;
    app.meta.reset().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path_regex("/messages$"))
        .respond_with(wiremock::ResponseTemplate::new(400).set_body_json(json!({
            "error": {
                "message": "(#132015) Template is paused",
                "type": "OAuthException",
                "code": 132015,
                "error_data": { "messaging_product": "whatsapp", "details": "Template is paused due to low quality" },
                "fbtrace_id": "AbCdEf"
            }
        })))
        .mount(&app.meta)
        .await;
    // Two messages from 25 hours ago (delivered late): each reply finds the window closed.
    let old = now_unix() - 25 * 3600;
    for (i, text) in ["late", "late"].iter().enumerate() {
        let wamid = format!("wamid.late.{i}");
        app.post_meta(&meta_text(&CUSTOMER[1..], &wamid, text, old + i as i64))
            .await;
        eventually(Duration::from_secs(10), "the reply failed", || async {
            let all = sent_to_customer(&app).await?;
            (all.len() == i + 1 && all.iter().all(|m| m.status == DeliveryStatus::Failed))
                .then_some(())
        })
        .await;
    }
    let listed = paused_templates(&app).await;
    assert_eq!(listed["templates"][0]["name"], "spring_sale", "{listed}");
    assert_eq!(
        app.meta_sends().await.len(),
        1,
        "the second fallback was stopped inside Parley"
    );
    app.shutdown().await;
}

/// Meta announces that a utility template becomes marketing (`template_category_update`
/// with `correct_category` and `category_update_timestamp`): until that time it stays
/// utility; from then on the templates API says marketing and a customer who stopped
/// marketing does not receive it.
#[tokio::test]
async fn an_announced_category_change_applies_from_its_date() {
    let app = spawn_with(Options {
        config_edits: vec![(
            "templates:\n",
            "templates:\n  - { id: 51, name: order_update, language: en_US, status: approved, category: utility, body: \"Hi {{1}}, your order moved.\" }\n",
        )],
        ..options(false)
    })
    .await;
    let announce = |at: i64| {
        String::from_utf8(fixture("template_category_impending.json"))
            .unwrap()
            .replace("1790600000", &at.to_string())
    };
    let category = |app: &TestApp| {
        let url = format!("{}/api/user/whatsapp/templates", app.addr);
        let http = app.http.clone();
        async move {
            let listed: Value = http
                .get(url)
                .bearer_auth(crate::api::KEY)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            listed["templates"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == "order_update")
                .cloned()
                .unwrap()
        }
    };
    app.post_meta(&fixture("user_preferences_stop.json")).await;

    // Announced for tomorrow: still utility, and it reaches the customer.
    let tomorrow = now_unix() + 86_400;
    assert_eq!(
        app.post_meta(announce(tomorrow).as_bytes()).await.status(),
        200
    );
    let listed = category(&app).await;
    assert_eq!(listed["category"], "utility", "{listed}");
    assert_eq!(
        listed["meta"]["impending_category"], "marketing",
        "{listed}"
    );
    let before = send_template(&app, 51).await;
    assert_eq!(settled(&app, before).await.status, DeliveryStatus::Accepted);

    // The date has passed: marketing, held back from the customer who stopped marketing.
    assert_eq!(
        app.post_meta(announce(now_unix() - 60).as_bytes())
            .await
            .status(),
        200
    );
    let listed = category(&app).await;
    assert_eq!(listed["category"], "marketing", "{listed}");
    let after = send_template(&app, 51).await;
    let record = settled(&app, after).await;
    assert_eq!(record.status, DeliveryStatus::Skipped, "{record:?}");
    assert!(
        record
            .error_title
            .as_deref()
            .unwrap()
            .contains("stopped marketing"),
        "{record:?}"
    );
    app.shutdown().await;
}
