//! Tests for `TwilioClient` against a wiremock double of the Twilio REST API.

use super::*;
use crate::domain::{
    ContactRef, ErrorClass, MediaKind, OutboundContent, ReplyButton, TemplateMessage,
};
use base64::Engine as _;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SID: &str = "ACa4b147af27f72d4ecafa3bc96c30dcda";
const TOKEN: &str = "test_auth_token";
const MESSAGES: &str = "/2010-04-01/Accounts/ACa4b147af27f72d4ecafa3bc96c30dcda/Messages.json";
const ACCOUNT: &str = "/2010-04-01/Accounts/ACa4b147af27f72d4ecafa3bc96c30dcda.json";
const CALLBACK: &str = "https://parley.example.com/webhooks/twilio";

fn client(api_base: &str) -> TwilioClient {
    client_with(api_base, TwilioInteractive::Text)
}

fn client_with(api_base: &str, interactive: TwilioInteractive) -> TwilioClient {
    let settings = TwilioSettings {
        account_sid: SID.into(),
        auth_token: TOKEN.into(),
        api_base: api_base.into(),
        status_callback: None,
        content_api_base: api_base.into(),
        messaging_api_base: api_base.into(),
        interactive,
        typing_indicator: true,
    };
    let from = PhoneNumber::parse("+15550783881").unwrap();
    TwilioClient::new(
        reqwest::Client::new(),
        settings,
        from,
        Some(CALLBACK.into()),
    )
}

fn to_customer(content: OutboundContent) -> OutboundMessage {
    OutboundMessage {
        to: ContactRef::Phone(PhoneNumber::parse("+16315551181").unwrap()),
        content,
        trace: None,
    }
}

fn text(body: &str) -> OutboundMessage {
    to_customer(OutboundContent::Text {
        body: body.into(),
        preview_url: false,
    })
}

fn basic_auth() -> String {
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"));
    format!("Basic {credentials}")
}

/// Twilio's answer to a created message, trimmed to what matters.
fn created(sid: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(serde_json::json!({
        "sid": sid, "status": "queued", "to": "whatsapp:+16315551181"
    }))
}

fn twilio_error(http: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(http).set_body_json(serde_json::json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": http,
    }))
}

/// Serves `response` to sends with our basic auth, and returns the server.
async fn twilio_answering(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(response)
        .expect(1)
        .mount(&server)
        .await;
    server
}

/// The decoded form of the one send the server received.
async fn sent_form(server: &MockServer) -> Vec<(String, String)> {
    let requests = server.received_requests().await.expect("recording is on");
    assert_eq!(requests.len(), 1);
    serde_urlencoded::from_bytes(&requests[0].body).expect("a form body")
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn send_expecting_failure(response: ResponseTemplate) -> SendFailure {
    let server = twilio_answering(response).await;
    client(&server.uri())
        .send(&text("Hello"))
        .await
        .expect_err("send must fail")
}

#[tokio::test]
async fn text_is_sent_as_body_with_basic_auth_and_returns_the_sid() {
    let server = twilio_answering(created("SM865d6f445128742e140cd93a5da125c0")).await;
    let ok = client(&server.uri())
        .send(&text("Your order shipped"))
        .await
        .unwrap();
    assert_eq!(ok.provider_message_id, "SM865d6f445128742e140cd93a5da125c0");
    assert_eq!(
        sent_form(&server).await,
        pairs(&[
            ("From", "whatsapp:+15550783881"),
            ("To", "whatsapp:+16315551181"),
            ("Body", "Your order shipped"),
            ("StatusCallback", CALLBACK),
        ])
    );
}

#[tokio::test]
async fn media_is_sent_by_url_with_its_caption_as_body() {
    let server = twilio_answering(created("MM1")).await;
    let message = to_customer(OutboundContent::Media {
        media: MediaKind::Image,
        link: "https://cdn.example.com/box.jpg".into(),
        caption: Some("Your box".into()),
        filename: Some("ignored.jpg".into()),
    });
    client(&server.uri()).send(&message).await.unwrap();
    let form = sent_form(&server).await;
    assert_eq!(
        form[2..4],
        pairs(&[
            ("MediaUrl", "https://cdn.example.com/box.jpg"),
            ("Body", "Your box")
        ])
    );
}

#[tokio::test]
async fn template_is_sent_by_content_sid_with_json_variables() {
    let server = twilio_answering(created("SM2")).await;
    let message = to_customer(OutboundContent::Template(TemplateMessage {
        name: "appointment_reminder".into(),
        language: "en_US".into(),
        variables: [("1", "Sheena"), ("2", "Jan 3"), ("10", "3pm")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        quick_reply_payloads: vec!["CONFIRM_APPT_4821".into()],
        content_sid: Some("HXb5b62575e6e4ff6129ad7c8efe1f983e".into()),
    }));
    client(&server.uri()).send(&message).await.unwrap();
    assert_eq!(
        sent_form(&server).await[2..4],
        pairs(&[
            ("ContentSid", "HXb5b62575e6e4ff6129ad7c8efe1f983e"),
            (
                "ContentVariables",
                r#"{"1":"Sheena","10":"3pm","2":"Jan 3"}"#
            ),
        ])
    );
}

#[tokio::test]
async fn template_without_content_sid_fails_permanently_without_calling_twilio() {
    let server = MockServer::start().await;
    let message = to_customer(OutboundContent::Template(TemplateMessage {
        name: "appointment_reminder".into(),
        language: "en_US".into(),
        variables: Default::default(),
        quick_reply_payloads: vec![],
        content_sid: None,
    }));
    let failure = client(&server.uri()).send(&message).await.unwrap_err();
    assert_eq!(failure.class, ErrorClass::Permanent);
    insta::assert_snapshot!(failure.title, @"template `appointment_reminder` has no twilio_content_sid: Twilio sends templates only by their Content SID (HX…); add it to the template in the configuration");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn buttons_are_degraded_to_numbered_text() {
    let server = twilio_answering(created("SM3")).await;
    let button = |id: &str, title: &str| ReplyButton {
        id: id.into(),
        title: title.into(),
    };
    let message = to_customer(OutboundContent::Buttons {
        body: "Keep your appointment?".into(),
        header: Some("Reminder".into()),
        footer: None,
        buttons: vec![button("yes", "Yes"), button("no", "No")],
    });
    client(&server.uri()).send(&message).await.unwrap();
    assert_eq!(
        sent_form(&server).await[2],
        pairs(&[(
            "Body",
            "Reminder\n\nKeep your appointment?\n\n1. Yes\n2. No"
        )])[0]
    );
}

fn keep_or_cancel() -> OutboundMessage {
    let button = |id: &str, title: &str| ReplyButton {
        id: id.into(),
        title: title.into(),
    };
    to_customer(OutboundContent::Buttons {
        body: "Keep your appointment?".into(),
        header: None,
        footer: None,
        buttons: vec![button("yes", "Yes"), button("no", "No")],
    })
}

#[tokio::test]
async fn buttons_go_as_a_quick_reply_content_created_once_and_reused() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/Content"))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "sid": "HXb5b62575e6e4ff6129ad7c8efe1f983e",
            "account_sid": SID,
            "friendly_name": "parley_quick_reply"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(MESSAGES))
        .respond_with(created("SM4"))
        .expect(2)
        .mount(&server)
        .await;
    let client = client_with(&server.uri(), TwilioInteractive::Content);
    client.send(&keep_or_cancel()).await.unwrap();
    client.send(&keep_or_cancel()).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let create: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(
        create["types"],
        serde_json::json!({ "twilio/quick-reply": { "body": "{{1}}", "actions": [
            { "id": "yes", "title": "Yes" }, { "id": "no", "title": "No" }
        ] } })
    );
    for send in &requests[1..] {
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&send.body).unwrap();
        assert_eq!(
            form,
            pairs(&[
                ("From", "whatsapp:+15550783881"),
                ("To", "whatsapp:+16315551181"),
                ("ContentSid", "HXb5b62575e6e4ff6129ad7c8efe1f983e"),
                ("ContentVariables", r#"{"1":"Keep your appointment?"}"#),
                ("StatusCallback", CALLBACK),
            ])
        );
    }
}

#[tokio::test]
async fn a_refused_content_template_falls_back_to_numbered_text() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/Content"))
        .respond_with(twilio_error(400, 20001, "Invalid types"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(MESSAGES))
        .respond_with(created("SM5"))
        .expect(1)
        .mount(&server)
        .await;
    client_with(&server.uri(), TwilioInteractive::Content)
        .send(&keep_or_cancel())
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&requests[1].body).unwrap();
    assert_eq!(
        form[2],
        (
            "Body".to_string(),
            "Keep your appointment?\n\n1. Yes\n2. No".to_string()
        )
    );
}

#[tokio::test]
async fn an_unavailable_content_api_is_retried_without_sending() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/Content"))
        .respond_with(twilio_error(503, 20503, "Service unavailable"))
        .mount(&server)
        .await;
    let failure = client_with(&server.uri(), TwilioInteractive::Content)
        .send(&keep_or_cancel())
        .await
        .expect_err("no template, no send");
    assert_eq!(failure.class, ErrorClass::Retry);
    assert!(sent_nothing(&server).await);
}

async fn sent_nothing(server: &MockServer) -> bool {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .all(|r| r.url.path() != MESSAGES)
}

#[tokio::test]
async fn typing_is_shown_through_the_typing_indicator_resource() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/Indicators/Typing.json"))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({ "success": true })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let to = ContactRef::Phone(PhoneNumber::parse("+16315551181").unwrap());
    client(&server.uri())
        .show_typing(&to, "SM865d6f445128742e140cd93a5da125c0")
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&requests[0].body).unwrap();
    assert_eq!(
        form,
        pairs(&[
            ("messageId", "SM865d6f445128742e140cd93a5da125c0"),
            ("channel", "whatsapp")
        ])
    );
}

#[tokio::test]
async fn a_reaction_is_refused_without_calling_twilio() {
    let server = MockServer::start().await;
    let failure = client(&server.uri())
        .send(&to_customer(OutboundContent::Reaction {
            message_id: "SM1".into(),
            emoji: "👍".into(),
        }))
        .await
        .expect_err("Twilio cannot react");
    assert_eq!(failure.class, ErrorClass::Permanent);
    insta::assert_snapshot!(failure.title, @"Twilio's API cannot send WhatsApp reactions; this reaction was not sent");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_location_request_goes_as_its_text() {
    let server = twilio_answering(created("SM6")).await;
    client(&server.uri())
        .send(&to_customer(OutboundContent::LocationRequest {
            body: "Where shall we deliver?".into(),
        }))
        .await
        .unwrap();
    assert_eq!(
        sent_form(&server).await[2],
        ("Body".to_string(), "Where shall we deliver?".to_string())
    );
}

#[tokio::test]
async fn business_scoped_recipient_is_addressed_by_id() {
    let server = twilio_answering(created("SM4")).await;
    let mut message = text("Hi");
    message.to = ContactRef::BusinessScoped("US.10482957361840527319".into());
    client(&server.uri()).send(&message).await.unwrap();
    assert_eq!(
        sent_form(&server).await[1],
        pairs(&[("To", "whatsapp:US.10482957361840527319")])[0]
    );
}

#[tokio::test]
async fn outside_the_window_is_window_closed() {
    let failure = send_expecting_failure(twilio_error(
        400,
        63016,
        "Failed to send freeform message because you are outside the allowed window.",
    ))
    .await;
    assert_eq!(failure.class, ErrorClass::WindowClosed);
    assert_eq!(
        (failure.http_status, failure.code),
        (Some(400), Some(63016))
    );
    assert_eq!(
        failure.title,
        "Failed to send freeform message because you are outside the allowed window."
    );
}

#[tokio::test]
async fn throttling_is_retried_after_the_time_twilio_asks() {
    let response = twilio_error(429, 20429, "Too Many Requests").insert_header("Retry-After", "7");
    let failure = send_expecting_failure(response).await;
    assert_eq!(failure.class, ErrorClass::Retry);
    assert_eq!(failure.retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn rejected_credentials_stop_the_sender() {
    let failure = send_expecting_failure(twilio_error(401, 20003, "Authenticate")).await;
    assert_eq!(failure.class, ErrorClass::StopSender);
    assert_eq!(failure.code, Some(20003));
}

#[tokio::test]
async fn an_error_without_a_json_body_keeps_the_http_status() {
    let failure =
        send_expecting_failure(ResponseTemplate::new(502).set_body_string("<html>")).await;
    assert_eq!(failure.class, ErrorClass::Retry);
    assert_eq!((failure.http_status, failure.code), (Some(502), None));
}

/// An address nothing listens on: bind a port, then free it.
fn refused_base() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn connection_refused_is_a_transport_failure() {
    let failure = client(&refused_base()).send(&text("Hi")).await.unwrap_err();
    assert_eq!(failure.class, ErrorClass::Retry);
    assert_eq!((failure.http_status, failure.code), (None, None));
    assert!(
        failure.title.starts_with("could not reach Twilio: "),
        "{}",
        failure.title
    );
}

async fn health_with(response: ResponseTemplate) -> ProviderHealth {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(ACCOUNT))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(response)
        .mount(&server)
        .await;
    client(&server.uri()).check_health().await
}

#[tokio::test]
async fn health_reports_an_active_account() {
    let health = health_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "sid": SID, "friendly_name": "Parley test", "status": "active"
    })))
    .await;
    assert!(health.reachable && health.credentials_valid);
    insta::assert_snapshot!(health.detail, @"Twilio account ACa4b147af27f72d4ecafa3bc96c30dcda (Parley test) is active.");
}

#[tokio::test]
async fn health_names_a_suspended_account() {
    let health = health_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "sid": SID, "status": "suspended"
    })))
    .await;
    assert!(health.reachable && health.credentials_valid);
    insta::assert_snapshot!(health.detail, @"Twilio account ACa4b147af27f72d4ecafa3bc96c30dcda is suspended: sends will fail until it is reactivated in the Twilio Console.");
}

#[tokio::test]
async fn health_reports_rejected_credentials() {
    let health = health_with(twilio_error(401, 20003, "Authenticate")).await;
    assert!(health.reachable && !health.credentials_valid);
    insta::assert_snapshot!(health.detail, @"Twilio rejected the credentials for account ACa4b147af27f72d4ecafa3bc96c30dcda (error 20003): check account_sid and auth_token for this sender; a rotated auth token must be updated here too.");
}

#[tokio::test]
async fn health_reports_an_unreachable_twilio() {
    let base = refused_base();
    let health = client(&base).check_health().await;
    assert!(!health.reachable && !health.credentials_valid);
    assert!(
        health
            .detail
            .starts_with(&format!("Could not reach Twilio at {base}: ")),
        "{}",
        health.detail
    );
}

#[test]
fn retry_after_reads_seconds_and_http_dates() {
    let headers = |value: &str| {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, value.parse().unwrap());
        h
    };
    assert_eq!(retry_after(&headers("120")), Some(Duration::from_secs(120)));
    let past = "Wed, 21 Oct 2015 07:28:00 GMT";
    assert_eq!(retry_after(&headers(past)), Some(Duration::ZERO));
    assert_eq!(retry_after(&headers("soon")), None);
    assert_eq!(retry_after(&HeaderMap::new()), None);
}

#[tokio::test]
async fn an_answer_over_1_mib_is_not_read() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_bytes(vec![b'x'; 2 * 1024 * 1024]))
        .mount(&server)
        .await;
    let failure = client(&server.uri()).send(&text("hi")).await.unwrap_err();
    assert!(failure.title.contains("larger than 1 MiB"), "{failure:?}");
}
