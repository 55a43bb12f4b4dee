//! Flows and API callers choose addresses Parley connects to; none of them may be internal
//! (issue 13, item 1). Through the public surface: an `http` step and a media check aimed at
//! a loopback service in several spellings are refused and the service sees no request.
//! Redirects and DNS rebinding are tested against real sockets in
//! `src/engine/http_step_tests.rs` (they need a stand-in "public" address).

use crate::api::{api_yaml, customer_writes, post, CUSTOMER, EDITS};
use crate::helpers::*;
use serde_json::{json, Value};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A service on loopback that must never be called.
async fn internal_service() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "image/png")
                .set_body_string("secret"),
        )
        .expect(0)
        .mount(&server)
        .await;
    server
}

fn spellings(port: u16) -> Vec<String> {
    [
        "localhost",
        "127.0.0.1",
        "2130706433",
        "0177.0.0.1",
        "0x7f.1",
        "[::ffff:127.0.0.1]",
    ]
    .iter()
    .map(|host| format!("http://{host}:{port}/data.png"))
    .collect()
}

/// The address comes from a variable, as from a customer's answer or an earlier `http`
/// step: `parley check` cannot see it, so the run-time guard must refuse it.
#[tokio::test]
async fn http_steps_to_loopback_in_any_spelling_fail_and_reach_nothing() {
    let internal = internal_service().await;
    let port = internal.address().port();
    let flows: Vec<(&'static str, &'static str)> = spellings(port)
        .into_iter()
        .enumerate()
        .map(|(i, url)| {
            let name: &'static str = Box::leak(format!("f{i}.yaml").into_boxed_str());
            let flow = format!(
                "id: f{i}\ntriggers: [{{ keyword: [go{i}] }}]\nsteps:\n  - set: {{ target: \"{url}\" }}\n  - http: {{ method: GET, url: \"{{{{ vars.target }}}}\", save_as: r, on_error: refused }}\n  - send: \"got {{{{ vars.r.body }}}}\"\n  - end: {{}}\n  - id: refused\n    send: refused\n"
            );
            (name, &*Box::leak(flow.into_boxed_str()))
        })
        .collect();
    let count = flows.len();
    let app = spawn_with(Options {
        flows,
        ..Options::default()
    })
    .await;
    for i in 0..count {
        let r = app
            .http
            .post(format!("{}/sandbox/api/messages", app.addr))
            .json(&json!({ "from": "+34600000001", "text": format!("go{i}") }))
            .send()
            .await
            .unwrap();
        let answer: Value = r.json().await.unwrap();
        let replies: Vec<&str> = answer["replies"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["summary"].as_str())
            .collect();
        assert_eq!(replies, vec!["refused"], "go{i}: {answer}");
        assert!(
            answer["trace"]
                .to_string()
                .contains("private network address"),
            "go{i}: {}",
            answer["trace"]
        );
    }
    internal.verify().await;
}

#[tokio::test]
async fn media_urls_on_loopback_in_any_spelling_are_refused_without_a_request() {
    let internal = internal_service().await;
    let app = spawn_with(Options {
        manual_clock: true,
        extra_yaml: api_yaml(1000, 1000).replace(
            "allow_private_networks: true",
            "allow_private_networks: false",
        ),
        config_edits: EDITS.to_vec(),
        ..Options::default()
    })
    .await;
    customer_writes(&app, CUSTOMER, 60).await;
    for url in spellings(internal.address().port()) {
        let (status, body) = post(
            &app,
            "/api/v1/messages/send-message",
            json!({ "contact_phone": CUSTOMER, "message_type": "image", "media_url": url }),
        )
        .await;
        assert_eq!(status, 422, "{url}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("private network address"),
            "{url}: {body}"
        );
    }
    internal.verify().await;
}
