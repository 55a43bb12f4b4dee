//! A provider slower than `outbox.send_timeout` takes the message although Parley gave up
//! waiting. Such a send is not repeated blindly: every send carries its outbox id, which
//! comes back with its statuses (Meta echoes `biz_opaque_callback_data`; Twilio calls the
//! `StatusCallback` URL that carries it), and a status naming the send settles it; only
//! without one is it sent again, after `outbox.unknown_outcome_wait` (issue 13, item 5).

use crate::helpers::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

/// `provider` (the app's Meta or Twilio double, chosen by `pick`) takes every message,
/// answering `answer` after 1.5 s: past the 300 ms send timeout. An unsettled send would go
/// again after 2 s.
async fn app_with_slow(
    pick: fn(&TestApp) -> &wiremock::MockServer,
    path: &str,
    answer: ResponseTemplate,
) -> TestApp {
    let app = spawn_with(Options {
        config_edits: vec![
            ("send_timeout: 2s", "send_timeout: 300ms"),
            ("unknown_outcome_wait: 1s", "unknown_outcome_wait: 2s"),
        ],
        ..Default::default()
    })
    .await;
    let provider = pick(&app);
    provider.reset().await;
    Mock::given(method("POST"))
        .and(path_regex(path))
        .respond_with(answer.set_delay(Duration::from_millis(1500)))
        .mount(provider)
        .await;
    app
}

async fn slow_meta_app() -> TestApp {
    let answer =
        ResponseTemplate::new(200).set_body_json(json!({"messages": [{"id": "wamid.slow.1"}]}));
    app_with_slow(|app| &app.meta, "/messages$", answer).await
}

fn status_echoing(sent: &Value, status: &str) -> Vec<u8> {
    let tag = sent["biz_opaque_callback_data"]
        .as_str()
        .expect("every send is tagged with its outbox id");
    let mut body: Value =
        serde_json::from_slice(&meta_status("wamid.slow.1", status, None, now_unix())).unwrap();
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] = json!(tag);
    serde_json::to_vec(&body).unwrap()
}

#[tokio::test]
async fn a_timed_out_send_that_the_provider_took_is_not_sent_again() {
    let app = slow_meta_app().await;
    let hi = meta_text(
        "16315551181",
        "wamid.in.slow",
        "hi slow provider",
        now_unix(),
    );
    assert_eq!(app.post_meta(&hi).await.status(), 200);
    let first = app.wait_meta_sends(1, Duration::from_secs(10)).await[0].clone();
    assert!(first["biz_opaque_callback_data"]
        .as_str()
        .unwrap()
        .starts_with("parley-outbox:"));
    // Meta reports the message it took, with Parley's tag.
    assert_eq!(
        app.post_meta(&status_echoing(&first, "sent"))
            .await
            .status(),
        200
    );
    // Well past the wait after which an unsettled send would go again.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(app.meta_sends().await.len(), 1, "the message went out once");
    let conv = app
        .store
        .find_conversation(1, "+16315551181")
        .await
        .unwrap()
        .unwrap();
    let sent = app
        .store
        .conversation_outbound(conv.id, None, 1)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(sent.provider_message_id.as_deref(), Some("wamid.slow.1"));
    assert_eq!(sent.status, parley::domain::DeliveryStatus::Sent);
    app.shutdown().await;
}

#[tokio::test]
async fn a_timed_out_send_with_no_status_is_sent_again_after_the_wait_not_at_once() {
    let app = slow_meta_app().await;
    let hi = meta_text(
        "16315551181",
        "wamid.in.slow2",
        "hi nobody answers",
        now_unix(),
    );
    assert_eq!(app.post_meta(&hi).await.status(), 200);
    app.wait_meta_sends(1, Duration::from_secs(10)).await;
    let first_at = Instant::now();
    // Before the wait is over: still one (a blind retry would have gone already).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(app.meta_sends().await.len(), 1, "no blind resend");
    app.wait_meta_sends(2, Duration::from_secs(15)).await;
    assert!(first_at.elapsed() >= Duration::from_millis(1500));
    app.shutdown().await;
}

#[tokio::test]
async fn a_timed_out_twilio_send_is_settled_by_its_status_callback() {
    let answer =
        ResponseTemplate::new(201).set_body_json(json!({"sid": "SMslow1", "status": "queued"}));
    let app = app_with_slow(|app| &app.twilio, "/Messages.json$", answer).await;
    let inbound = [
        ("MessageSid", "SMin1"),
        ("AccountSid", "ACtest"),
        ("From", "whatsapp:+16315551181"),
        ("To", "whatsapp:+15550783881"),
        ("Body", "hi twilio slow"),
        ("WaId", "16315551181"),
    ];
    assert_eq!(post_twilio(&app, "/webhooks/twilio", &inbound).await, 200);
    let sent = eventually(Duration::from_secs(10), "a send at Twilio", || async {
        app.twilio
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .next()
    })
    .await;
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&sent.body).unwrap();
    let callback = form
        .iter()
        .find(|(k, _)| k == "StatusCallback")
        .map(|(_, v)| v.clone())
        .expect("every send names its status callback");
    let path_and_query = callback
        .strip_prefix("https://example.com")
        .expect("the callback is on public_url");
    assert!(path_and_query.contains("parley_outbox="), "{callback}");
    // Twilio calls it with the message's status.
    let status = [
        ("MessageSid", "SMslow1"),
        ("MessageStatus", "sent"),
        ("AccountSid", "ACtest"),
        ("From", "whatsapp:+15550783881"),
        ("To", "whatsapp:+16315551181"),
    ];
    assert_eq!(post_twilio(&app, path_and_query, &status).await, 200);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let sends = app.twilio.received_requests().await.unwrap_or_default();
    assert_eq!(sends.len(), 1, "the message went out once");
    app.shutdown().await;
}
