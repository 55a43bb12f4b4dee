use super::*;
use crate::domain::{
    ContactRef, ErrorClass, FieldKind, FlowRef, FormAction, FormField, FormMessage, ListRow,
    ListSection, MediaKind, OutboundContent, PhoneNumber, ReplyButton, TemplateMessage,
};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PHONE_NUMBER_ID: &str = "106540352242922";
const TOKEN: &str = "test-access-token";
const WAMID: &str = "wamid.HBgLMTYzMTU1NTExODEVAgARGBI4QkEwNDE2NUJBQUFEMUUxQ0QA";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/meta/{name}",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../..")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn client(api_base: String) -> MetaClient {
    MetaClient::new(
        reqwest::Client::new(),
        MetaSettings {
            phone_number_id: PHONE_NUMBER_ID.into(),
            access_token: TOKEN.into(),
            app_secret: "test_app_secret".into(),
            verify_token: "test_verify_token".into(),
            api_base,
            routing: None,
        },
    )
}

fn to_sheena(content: OutboundContent) -> OutboundMessage {
    OutboundMessage {
        to: ContactRef::Phone(PhoneNumber::parse("+16315551181").unwrap()),
        content,
        trace: None,
    }
}

/// A plain "hi" to Sheena.
fn hi() -> OutboundMessage {
    to_sheena(OutboundContent::Text {
        body: "hi".into(),
        preview_url: false,
    })
}

/// Answers `times` JSON POSTs to `{prefix}/{PHONE_NUMBER_ID}/messages` that carry the
/// token, with the fixture `answer`.
async fn answer_messages(server: &MockServer, prefix: &str, answer: &str, times: u64) {
    Mock::given(method("POST"))
        .and(path(format!("{prefix}/{PHONE_NUMBER_ID}/messages")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(fixture(answer), "application/json"))
        .expect(times)
        .mount(server)
        .await;
}

/// Sends `message` to a mock Graph API answering with the success fixture, checks the
/// wamid comes back, and returns the JSON body the client posted.
async fn posted_body(message: OutboundMessage) -> Value {
    let server = MockServer::start().await;
    answer_messages(&server, "", "outbound_success_response.json", 1).await;
    let sent = client(server.uri())
        .send(&message)
        .await
        .expect("send succeeds");
    assert_eq!(sent.provider_message_id, WAMID);
    let requests = server.received_requests().await.expect("recording is on");
    requests[0].body_json().expect("JSON body")
}

/// Sends a text to a mock Graph API that answers `response`; returns the failure.
async fn failure_for(response: ResponseTemplate) -> SendFailure {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(response)
        .mount(&server)
        .await;
    client(server.uri())
        .send(&to_sheena(OutboundContent::Text {
            body: "hello".into(),
            preview_url: false,
        }))
        .await
        .expect_err("send fails")
}

fn graph_error(status: u16, fixture_name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture(fixture_name), "application/json")
}

/// An address nothing listens on: bind a port, then let it go.
fn closed_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn text_body_matches_the_fixture() {
    let body = posted_body(to_sheena(OutboundContent::Text {
        body: "Hi Sheena! Order #4821 shipped this morning and should arrive on Friday.".into(),
        preview_url: false,
    }))
    .await;
    assert_eq!(body, fixture_json("outbound_text_request.json"));
}

#[tokio::test]
async fn image_body_matches_the_fixture() {
    let body = posted_body(to_sheena(OutboundContent::Media {
        media: MediaKind::Image,
        link: "https://assets.example.com/catalog/aloe-vera-4in.jpg".into(),
        caption: Some("Here is the aloe vera from order #4821.".into()),
        filename: Some("ignored-for-images.jpg".into()),
    }))
    .await;
    assert_eq!(body, fixture_json("outbound_image_request.json"));
}

#[tokio::test]
async fn document_body_carries_its_filename() {
    let body = posted_body(to_sheena(OutboundContent::Media {
        media: MediaKind::Document,
        link: "https://assets.example.com/invoices/INV-20431.pdf".into(),
        caption: Some("Your invoice".into()),
        filename: Some("invoice_INV-20431.pdf".into()),
    }))
    .await;
    assert_eq!(body["type"], "document");
    assert_eq!(
        body["document"],
        json!({
            "link": "https://assets.example.com/invoices/INV-20431.pdf",
            "caption": "Your invoice",
            "filename": "invoice_INV-20431.pdf"
        })
    );
}

#[tokio::test]
async fn audio_body_has_no_caption() {
    let body = posted_body(to_sheena(OutboundContent::Media {
        media: MediaKind::Audio,
        link: "https://assets.example.com/voice/welcome.ogg".into(),
        caption: Some("Audio cannot carry this".into()),
        filename: None,
    }))
    .await;
    assert_eq!(
        body["audio"],
        json!({ "link": "https://assets.example.com/voice/welcome.ogg" })
    );
}

#[tokio::test]
async fn location_body_matches_the_fixture() {
    let body = posted_body(to_sheena(OutboundContent::Location {
        latitude: 37.79554748535,
        longitude: -122.39348602295,
        name: Some("Lucky Shrub Pickup Point".into()),
        address: Some("1 Ferry Building, San Francisco, CA 94111".into()),
    }))
    .await;
    assert_eq!(body, fixture_json("outbound_location_request.json"));
}

#[tokio::test]
async fn reaction_body_matches_the_fixture() {
    let body = posted_body(to_sheena(OutboundContent::Reaction {
        message_id: WAMID.into(),
        emoji: "😀".into(),
    }))
    .await;
    assert_eq!(body, fixture_json("outbound_reaction_request.json"));
}

#[tokio::test]
async fn removing_a_reaction_sends_an_empty_emoji() {
    let body = posted_body(to_sheena(OutboundContent::Reaction {
        message_id: WAMID.into(),
        emoji: String::new(),
    }))
    .await;
    assert_eq!(
        body["reaction"],
        json!({ "message_id": WAMID, "emoji": "" })
    );
}

#[tokio::test]
async fn location_request_body_matches_the_fixture() {
    let body = posted_body(to_sheena(OutboundContent::LocationRequest {
        body: "Let's start with your pickup. You can either manually *enter an address* or *share your current location*.".into(),
    }))
    .await;
    assert_eq!(
        body,
        fixture_json("outbound_location_request_message_request.json")
    );
}

#[tokio::test]
async fn typing_marks_the_message_read_and_shows_the_indicator() {
    let server = MockServer::start().await;
    answer_messages(&server, "", "outbound_read_receipt_response.json", 1).await;
    let to = ContactRef::Phone(PhoneNumber::parse("+16315551181").unwrap());
    client(server.uri()).show_typing(&to, WAMID).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body, fixture_json("outbound_typing_indicator_request.json"));
}

#[tokio::test]
async fn a_refused_typing_indicator_is_a_classified_failure() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(graph_error(401, "outbound_error_190_response.json"))
        .mount(&server)
        .await;
    let to = ContactRef::Phone(PhoneNumber::parse("+16315551181").unwrap());
    let failure = client(server.uri())
        .show_typing(&to, WAMID)
        .await
        .expect_err("refused");
    assert_eq!(failure.code, Some(190));
}

#[tokio::test]
async fn reply_buttons_body_matches_the_fixture() {
    let body = posted_body(to_sheena(OutboundContent::Buttons {
        body: "How can we help you with this order?".into(),
        header: Some("Order #4821".into()),
        footer: Some("Lucky Shrub support".into()),
        buttons: vec![
            ReplyButton {
                id: "track_order".into(),
                title: "Track my order".into(),
            },
            ReplyButton {
                id: "talk_to_agent".into(),
                title: "Talk to an agent".into(),
            },
        ],
    }))
    .await;
    assert_eq!(
        body,
        fixture_json("outbound_interactive_buttons_request.json")
    );
}

fn booking_form() -> FormMessage {
    FormMessage {
        body: "Book a visit to our nursery".into(),
        header: Some("Lucky Shrub".into()),
        footer: Some("Takes a minute".into()),
        flow: FlowRef::Id("1197715005513101".into()),
        cta: "Book now".into(),
        token: "parley-form.12.1.0.57".into(),
        action: FormAction::Navigate {
            screen: "APPOINTMENT".into(),
            data: Some(serde_json::json!({"customer_name": "Sheena"})),
        },
        draft: false,
        fields: vec![FormField {
            name: "people".into(),
            label: Some("People".into()),
            kind: FieldKind::Number,
            required: true,
            options: vec![],
        }],
    }
}

#[tokio::test]
async fn form_body_matches_the_fixture_and_keeps_the_fields_to_itself() {
    let body = posted_body(to_sheena(OutboundContent::Form(Box::new(booking_form())))).await;
    assert_eq!(body, fixture_json("outbound_interactive_flow_request.json"));
}

#[tokio::test]
async fn form_by_name_in_draft_with_data_exchange_has_no_payload() {
    let form = FormMessage {
        flow: FlowRef::Name("booking".into()),
        action: FormAction::DataExchange,
        draft: true,
        header: None,
        footer: None,
        ..booking_form()
    };
    let body = posted_body(to_sheena(OutboundContent::Form(Box::new(form)))).await;
    let p = &body["interactive"]["action"]["parameters"];
    assert_eq!(p["flow_name"], "booking");
    assert_eq!(p["flow_action"], "data_exchange");
    assert_eq!(p["mode"], "draft");
    assert!(p.get("flow_id").is_none() && p.get("flow_action_payload").is_none());
    assert!(body["interactive"].get("header").is_none());
}

#[tokio::test]
async fn address_request_is_an_address_message_with_its_country() {
    let body = posted_body(to_sheena(OutboundContent::AddressRequest {
        body: "Where should we deliver your order?".into(),
        header: None,
        footer: None,
        country: "IN".into(),
    }))
    .await;
    assert_eq!(
        body["interactive"],
        json!({
            "type": "address_message",
            "body": { "text": "Where should we deliver your order?" },
            "action": { "name": "address_message", "parameters": { "country": "IN" } }
        })
    );
}

#[tokio::test]
async fn list_body_has_a_button_and_sections_of_rows() {
    let body = posted_body(to_sheena(OutboundContent::List {
        body: "How fast do you need it?".into(),
        header: None,
        footer: Some("Prices include tax".into()),
        button: "Shipping options".into(),
        sections: vec![ListSection {
            title: Some("I want it ASAP!".into()),
            rows: vec![
                ListRow {
                    id: "priority_express".into(),
                    title: "Priority Mail Express".into(),
                    description: Some("Next Day to 2 Days".into()),
                },
                ListRow {
                    id: "ground".into(),
                    title: "Ground".into(),
                    description: None,
                },
            ],
        }],
    }))
    .await;
    let mut expected = fixture_json("outbound_text_request.json");
    let map = expected.as_object_mut().unwrap();
    map.remove("text");
    map.insert("type".into(), json!("interactive"));
    map.insert(
        "interactive".into(),
        json!({
            "type": "list",
            "body": { "text": "How fast do you need it?" },
            "footer": { "text": "Prices include tax" },
            "action": {
                "button": "Shipping options",
                "sections": [{
                    "title": "I want it ASAP!",
                    "rows": [
                        { "id": "priority_express", "title": "Priority Mail Express", "description": "Next Day to 2 Days" },
                        { "id": "ground", "title": "Ground" }
                    ]
                }]
            }
        }),
    );
    assert_eq!(body, expected);
}

#[tokio::test]
async fn url_button_body_is_a_cta_url_message() {
    let body = posted_body(to_sheena(OutboundContent::UrlButton {
        body: "Track your parcel on our site.".into(),
        header: Some("Order #4821".into()),
        footer: None,
        display_text: "Track order".into(),
        url: "https://luckyshrub.example.com/orders/4821".into(),
    }))
    .await;
    assert_eq!(
        body["interactive"],
        json!({
            "type": "cta_url",
            "header": { "type": "text", "text": "Order #4821" },
            "body": { "text": "Track your parcel on our site." },
            "action": {
                "name": "cta_url",
                "parameters": {
                    "display_text": "Track order",
                    "url": "https://luckyshrub.example.com/orders/4821"
                }
            }
        })
    );
}

#[tokio::test]
async fn template_body_matches_the_fixture() {
    // Inserted out of order: values must go out in numeric placeholder order.
    let variables = [
        ("3", "10:30 AM"),
        ("1", "Sheena"),
        ("2", "Friday, January 2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let body = posted_body(to_sheena(OutboundContent::Template(TemplateMessage {
        name: "appointment_reminder".into(),
        language: "en_US".into(),
        variables,
        quick_reply_payloads: vec!["CONFIRM_APPT_4821".into(), "RESCHEDULE_APPT_4821".into()],
        content_sid: None,
    })))
    .await;
    assert_eq!(body, fixture_json("outbound_template_request.json"));
}

#[tokio::test]
async fn business_scoped_recipient_goes_in_the_recipient_field() {
    let body = posted_body(OutboundMessage {
        to: ContactRef::BusinessScoped("US.10482957361840527319".into()),
        content: OutboundContent::Text {
            body: "Yes, we ship to Canada.".into(),
            preview_url: false,
        },
        trace: None,
    })
    .await;
    assert_eq!(body["recipient"], "US.10482957361840527319");
    assert!(body.get("to").is_none(), "{body}");
}

#[tokio::test]
async fn window_closed_error_is_classified_with_its_code() {
    let failure = failure_for(graph_error(400, "outbound_error_131047_response.json")).await;
    assert_eq!(failure.class, ErrorClass::WindowClosed);
    assert_eq!(failure.http_status, Some(400));
    assert_eq!(failure.code, Some(131047));
    insta::assert_snapshot!(failure.title, @"(#131047) Re-engagement message: Message failed to send because more than 24 hours have passed since the customer last replied to this number.");
}

#[tokio::test]
async fn throughput_limit_is_retried() {
    let failure = failure_for(graph_error(400, "outbound_error_130429_response.json")).await;
    assert_eq!(failure.class, ErrorClass::Retry);
    assert_eq!(failure.code, Some(130429));
    assert_eq!(failure.retry_after, None);
}

#[tokio::test]
async fn expired_token_stops_the_sender() {
    let failure = failure_for(graph_error(401, "outbound_error_190_response.json")).await;
    assert_eq!(failure.class, ErrorClass::StopSender);
    assert_eq!(failure.http_status, Some(401));
    assert_eq!(failure.code, Some(190));
    assert!(
        failure.title.starts_with("Error validating access token"),
        "{}",
        failure.title
    );
}

#[tokio::test]
async fn service_unavailable_is_retried_after_the_advertised_delay() {
    let response = ResponseTemplate::new(503)
        .insert_header("retry-after", "7")
        .set_body_string("<html><body>Service Unavailable</body></html>");
    let failure = failure_for(response).await;
    assert_eq!(failure.class, ErrorClass::Retry);
    assert_eq!(failure.http_status, Some(503));
    assert_eq!(failure.code, None);
    assert_eq!(failure.retry_after, Some(Duration::from_secs(7)));
    insta::assert_snapshot!(failure.title, @"Meta answered HTTP 503 Service Unavailable: <html><body>Service Unavailable</body></html>");
}

#[tokio::test]
async fn refused_connection_is_a_transport_failure_to_retry() {
    let failure = client(closed_address())
        .send(&to_sheena(OutboundContent::Text {
            body: "hello".into(),
            preview_url: false,
        }))
        .await
        .expect_err("nothing listens");
    assert_eq!(failure.class, ErrorClass::Retry);
    assert_eq!(failure.http_status, None);
    assert_eq!(failure.code, None);
    assert!(
        failure.title.starts_with("no answer from Meta: "),
        "{}",
        failure.title
    );
}

#[tokio::test]
async fn health_check_accepts_a_working_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/{PHONE_NUMBER_ID}")))
        .and(query_param(
            "fields",
            "id,display_phone_number,verified_name",
        ))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "verified_name": "Lucky Shrub",
            "display_phone_number": "+1 555-078-3881",
            "id": PHONE_NUMBER_ID
        })))
        .expect(1)
        .mount(&server)
        .await;
    let health = client(server.uri()).check_health().await;
    assert!(health.reachable && health.credentials_valid, "{health:?}");
    insta::assert_snapshot!(health.detail, @"Meta accepted the access token for phone number id 106540352242922 (+1 555-078-3881, Lucky Shrub)");
}

#[tokio::test]
async fn health_check_names_a_rejected_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(graph_error(401, "outbound_error_190_response.json"))
        .mount(&server)
        .await;
    let health = client(server.uri()).check_health().await;
    assert!(health.reachable, "{health:?}");
    assert!(!health.credentials_valid, "{health:?}");
    insta::assert_snapshot!(health.detail, @"access token rejected by Meta (code 190): Error validating access token: Session has expired on Thursday, 01-Jan-26 08:00:00 PST. The current time is Thursday, 01-Jan-26 09:14:07 PST.; generate a new token and update senders[].meta.access_token");
}

#[tokio::test]
async fn health_check_reports_an_unreachable_api() {
    let health = client(closed_address()).check_health().await;
    assert!(!health.reachable, "{health:?}");
    assert!(!health.credentials_valid, "{health:?}");
    assert!(
        health
            .detail
            .starts_with("could not reach Meta at http://127.0.0.1:"),
        "{}",
        health.detail
    );
}

#[tokio::test]
async fn an_answer_over_1_mib_is_not_read() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_bytes(vec![b'x'; 2 * 1024 * 1024]))
        .mount(&server)
        .await;
    let failure = client(server.uri()).send(&hi()).await.unwrap_err();
    assert!(failure.title.contains("larger than 1 MiB"), "{failure:?}");
}

/// The `/messages` address and the token's header are made once, with the client: a base
/// with a version path and a trailing slash keeps both, and every send and typing
/// indicator goes there with the token (sensitive, so it never shows in a debug print).
#[tokio::test]
async fn sends_use_the_address_and_token_made_once() {
    let server = MockServer::start().await;
    answer_messages(&server, "/v23.0", "outbound_success_response.json", 3).await;
    let client = client(format!("{}/v23.0/", server.uri()));
    assert_eq!(
        client.messages_url.as_ref().map(|u| u.as_str().to_owned()),
        Some(format!("{}/v23.0/{PHONE_NUMBER_ID}/messages", server.uri()))
    );
    assert!(client.authorization.as_ref().unwrap().is_sensitive());
    for _ in 0..2 {
        let sent = client.send(&hi()).await.unwrap();
        assert_eq!(sent.provider_message_id, WAMID);
    }
    let to = ContactRef::Phone(PhoneNumber::parse("+16315551181").unwrap());
    client.show_typing(&to, WAMID).await.unwrap();
}

/// A token that cannot be an HTTP header, or a base that is not an address, is not
/// refused when the client is made: each send fails with the transport's error, as it
/// did before these were made once.
#[tokio::test]
async fn a_token_or_base_that_cannot_be_sent_fails_each_send() {
    let server = MockServer::start().await;
    let settings = MetaSettings {
        access_token: "line\nbreak".into(),
        ..client(server.uri()).settings
    };
    let bad_token = MetaClient::new(reqwest::Client::new(), settings);
    assert!(bad_token.authorization.is_none());
    let bad_base = client("not an address".into());
    assert!(bad_base.messages_url.is_none());
    for client in [bad_token, bad_base] {
        let failure = client.send(&hi()).await.unwrap_err();
        assert!(
            failure.title.starts_with("no answer from Meta"),
            "{failure:?}"
        );
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}
