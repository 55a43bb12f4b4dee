//! Issue 16, items 7, 9 and 11 end to end: "typing…" shown and renewed while a slow `http`
//! step runs, a reaction and a location request on the wire at the Graph API double, and
//! Twilio buttons sent as a Content API quick-reply created once and reused, across a
//! restart.

use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CUSTOMER: &str = "16315551181";

/// Requests the Meta double received at `/messages` (sends and typing indicators alike).
async fn meta_posts(app: &TestApp) -> Vec<Value> {
    sends(&app.meta).await
}

fn is_typing(body: &Value) -> bool {
    body["status"] == "read" && body["typing_indicator"] == json!({ "type": "text" })
}

#[tokio::test]
async fn typing_is_shown_and_renewed_while_a_slow_http_step_runs_and_stops_with_the_reply() {
    let slow = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orders/4821"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "state": "on its way" }))
                .set_delay(Duration::from_millis(2_000)),
        )
        .mount(&slow)
        .await;
    let flow = format!(
        "id: order\ntyping: true\ntriggers: [{{ keyword: [order] }}]\nsteps:\n  - http: {{ method: GET, url: \"{}/orders/4821\", save_as: r, timeout: 5s }}\n  - send: \"Your order is {{{{ vars.r.body.state }}}}\"\n",
        slow.uri()
    );
    let app = spawn_with(Options {
        flows: vec![("order.yaml", Box::leak(flow.into_boxed_str()))],
        config_edits: vec![(
            "flows: { dir: ",
            "flows: { allow_private_networks: true, typing_renew: 300ms, dir: ",
        )],
        ..Default::default()
    })
    .await;
    app.post_meta(&meta_text(CUSTOMER, "wamid.order.1", "order", now_unix()))
        .await;
    let posts = eventually(Duration::from_secs(10), "the reply", || async {
        let posts = meta_posts(&app).await;
        posts.iter().any(|p| p["type"] == "text").then_some(posts)
    })
    .await;
    let reply_at = posts.iter().position(|p| p["type"] == "text").unwrap();
    let typing: Vec<&Value> = posts[..reply_at].iter().filter(|p| is_typing(p)).collect();
    // Shown at once, then every 300 ms of the 2 s wait (six renewals; three posts leave
    // room for a machine too busy to keep the beat: with a 1.1 s wait, a full suite on a
    // slow machine once saw only two).
    assert!(
        typing.len() >= 3,
        "typing shown and renewed, got {typing:#?}"
    );
    for t in &typing {
        assert_eq!(t["message_id"], "wamid.order.1");
        assert_eq!(t["messaging_product"], "whatsapp");
    }
    assert_eq!(body_text(&posts[reply_at]), "Your order is on its way");
    // Nothing more once the step is over.
    let before = meta_posts(&app)
        .await
        .iter()
        .filter(|p| is_typing(p))
        .count();
    tokio::time::sleep(Duration::from_millis(900)).await;
    let after = meta_posts(&app)
        .await
        .iter()
        .filter(|p| is_typing(p))
        .count();
    assert_eq!(before, after, "typing stops with the step");
    app.shutdown().await;
}

#[tokio::test]
async fn a_typing_indicator_meta_refuses_never_fails_the_flow() {
    let slow = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "ok": true }))
                .set_delay(Duration::from_millis(400)),
        )
        .mount(&slow)
        .await;
    let flow = format!(
        "id: order\ntyping: true\ntriggers: [{{ keyword: [order] }}]\nsteps:\n  - http: {{ method: GET, url: \"{}/x\", save_as: r }}\n  - send: \"done\"\n",
        slow.uri()
    );
    let app = spawn_with(Options {
        flows: vec![("order.yaml", Box::leak(flow.into_boxed_str()))],
        config_edits: vec![(
            "flows: { dir: ",
            "flows: { allow_private_networks: true, typing_renew: 100ms, dir: ",
        )],
        ..Default::default()
    })
    .await;
    // Meta refuses typing indicators (mounted first, so it wins for them).
    app.meta.reset().await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::body_partial_json(json!({ "status": "read" })))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": { "message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100 }
        })))
        .mount(&app.meta)
        .await;
    mount_meta_ok(&app.meta).await;
    app.post_meta(&meta_text(CUSTOMER, "wamid.order.2", "order", now_unix()))
        .await;
    let posts = eventually(Duration::from_secs(10), "the reply", || async {
        let posts = meta_posts(&app).await;
        posts.iter().any(|p| p["type"] == "text").then_some(posts)
    })
    .await;
    // Tried once, refused, not repeated for this step; the reply went out all the same.
    assert_eq!(posts.iter().filter(|p| is_typing(p)).count(), 1);
    assert_eq!(
        body_text(posts.iter().find(|p| p["type"] == "text").unwrap()),
        "done"
    );
    app.shutdown().await;
}

const DELIVERY: &str = r#"id: delivery
triggers: [{ keyword: [deliver] }]
steps:
  - send: { react: "👍" }
  - send: { location_request: "Where shall we deliver, {{ contact.name }}?" }
  - send: { react: { emoji: "", message_id: "wamid.earlier" } }
"#;

#[tokio::test]
async fn a_reaction_and_a_location_request_go_out_as_meta_documents_them() {
    let app = spawn_with(Options {
        flows: vec![("delivery.yaml", DELIVERY)],
        ..Default::default()
    })
    .await;
    app.post_meta(&meta_text(
        CUSTOMER,
        "wamid.deliver.1",
        "deliver",
        now_unix(),
    ))
    .await;
    let sends = app.wait_meta_sends(3, Duration::from_secs(10)).await;
    assert_eq!(sends[0]["type"], "reaction");
    assert_eq!(
        sends[0]["reaction"],
        json!({ "message_id": "wamid.deliver.1", "emoji": "👍" })
    );
    assert_eq!(sends[0]["to"], CUSTOMER);
    assert_eq!(
        sends[1]["interactive"],
        json!({
            "type": "location_request_message",
            "body": { "text": "Where shall we deliver, Tester?" },
            "action": { "name": "send_location" }
        })
    );
    assert_eq!(
        sends[2]["reaction"],
        json!({ "message_id": "wamid.earlier", "emoji": "" })
    );
    app.shutdown().await;
}

async fn twilio_customer_writes(app: &TestApp, sid: &str, body: &str) {
    let params = [
        ("MessageSid", sid),
        ("AccountSid", "ACtest"),
        ("From", "whatsapp:+16315551181"),
        ("To", "whatsapp:+15550783881"),
        ("Body", body),
        ("WaId", "16315551181"),
        ("ProfileName", "Ana"),
    ];
    assert_eq!(post_twilio(app, "/webhooks/twilio", &params).await, 200);
}

/// What the Twilio double received on `path_end`: form bodies for sends, JSON for content.
async fn twilio_requests(app: &TestApp, path_end: &str) -> Vec<Vec<u8>> {
    app.twilio
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path().ends_with(path_end))
        .map(|r| r.body)
        .collect()
}

const MENU: &str = r#"id: menu
triggers: [{ keyword: [menu] }]
steps:
  - send:
      text: "Hi {{ contact.name }}, what next?"
      buttons: [{ id: orders, title: My orders }, { id: human, title: Talk to a person }]
"#;

#[tokio::test]
async fn twilio_buttons_are_a_quick_reply_created_once_and_reused_after_a_restart() {
    let app = spawn_with(Options {
        flows: vec![("menu.yaml", MENU)],
        ..Default::default()
    })
    .await;
    twilio_customer_writes(&app, "SMmenu1", "menu").await;
    eventually(Duration::from_secs(10), "the first send", || async {
        (twilio_requests(&app, "/Messages.json").await.len() == 1).then_some(())
    })
    .await;
    let app = app.restart().await;
    twilio_customer_writes(&app, "SMmenu2", "menu").await;
    let sends = eventually(Duration::from_secs(10), "the second send", || async {
        let s = twilio_requests(&app, "/Messages.json").await;
        (s.len() == 2).then_some(s)
    })
    .await;
    let created = twilio_requests(&app, "/v1/Content").await;
    assert_eq!(created.len(), 1, "one template, reused");
    let create: Value = serde_json::from_slice(&created[0]).unwrap();
    assert_eq!(
        create["types"],
        json!({ "twilio/quick-reply": { "body": "{{1}}", "actions": [
            { "id": "orders", "title": "My orders" },
            { "id": "human", "title": "Talk to a person" }
        ] } })
    );
    let forms: Vec<std::collections::HashMap<String, String>> = sends
        .iter()
        .map(|b| serde_urlencoded::from_bytes(b).unwrap())
        .collect();
    assert!(forms[0]["ContentSid"].starts_with("HX"));
    assert_eq!(forms[0]["ContentSid"], forms[1]["ContentSid"]);
    assert_eq!(
        forms[1]["ContentVariables"],
        r#"{"1":"Hi Ana, what next?"}"#
    );
    assert!(!forms[1].contains_key("Body"), "no numbered text");
    app.shutdown().await;
}

#[tokio::test]
async fn the_sandbox_shows_typing_while_the_slow_step_runs_and_not_after_the_reply() {
    let slow = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "state": "packed" }))
                .set_delay(Duration::from_millis(1_500)),
        )
        .mount(&slow)
        .await;
    let flow = format!(
        "id: order\ntyping: true\ntriggers: [{{ keyword: [order] }}]\nsteps:\n  - http: {{ method: GET, url: \"{}/o\", save_as: r }}\n  - send: \"Your order is {{{{ vars.r.body.state }}}}\"\n",
        slow.uri()
    );
    let app = spawn_with(Options {
        flows: vec![("order.yaml", Box::leak(flow.into_boxed_str()))],
        config_edits: vec![(
            "flows: { dir: ",
            "flows: { allow_private_networks: true, dir: ",
        )],
        ..Default::default()
    })
    .await;
    let customer = "+34600000009";
    let path = format!("/sandbox/api/contacts/{customer}/messages");
    let (_, before) = get_json(&app, &path).await;
    assert_eq!(before["typing"], false);
    let injecting = {
        let app_addr = app.addr.clone();
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{app_addr}/sandbox/api/messages"))
                .json(&json!({ "from": customer, "name": "Ana", "text": "order" }))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    eventually(Duration::from_secs(5), "typing… in the sandbox", || async {
        let (_, m) = get_json(&app, &path).await;
        (m["typing"] == true).then_some(())
    })
    .await;
    assert_eq!(injecting.await.unwrap(), 200);
    let after = eventually(Duration::from_secs(10), "the reply", || async {
        let (_, m) = get_json(&app, &path).await;
        (m["messages"].as_array().is_some_and(|a| a.len() == 2)).then_some(m)
    })
    .await;
    assert_eq!(after["messages"][1]["summary"], "Your order is packed");
    assert_eq!(after["typing"], false, "the reply ends it");
    app.shutdown().await;
}

#[tokio::test]
async fn the_conversations_api_sends_a_reaction_and_a_location_request() {
    use crate::api::{customer_writes, post, spawn_api};
    let app = spawn_api().await;
    customer_writes(&app, CUSTOMER, 10).await;
    let id = app.store.conversations_page(None, None, 1).await.unwrap()[0]
        .conversation
        .id;
    let url = format!("/api/conversations/{id}/messages");
    let (status, body) = post(
        &app,
        &url,
        json!({ "type": "reaction", "message_id": "wamid.in.1", "emoji": "❤️" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(
        &app,
        &url,
        json!({ "type": "location_request", "text": "Where are you?" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sends = app.wait_meta_sends(2, Duration::from_secs(5)).await;
    assert_eq!(
        sends[0]["reaction"],
        json!({ "message_id": "wamid.in.1", "emoji": "❤️" })
    );
    assert_eq!(sends[1]["interactive"]["type"], "location_request_message");
    for (b, field) in [
        (
            json!({ "type": "reaction", "message_id": "wamid.in.1", "emoji": "nice" }),
            "emoji",
        ),
        (json!({ "type": "reaction", "emoji": "👍" }), "message_id"),
        (
            json!({ "type": "location_request", "text": "x".repeat(1_025) }),
            "text",
        ),
        (json!({ "type": "location_request", "text": "  " }), "text"),
    ] {
        let (status, body) = post(&app, &url, b.clone()).await;
        assert_eq!(status, 422, "{b}: {body}");
        assert!(body.to_string().contains(field), "{b}: {body}");
    }
    assert_eq!(
        app.meta_sends().await.len(),
        2,
        "refused requests send nothing"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn typing_for_one_customer_never_holds_up_another() {
    let slow = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "state": "late" }))
                .set_delay(Duration::from_millis(2_500)),
        )
        .mount(&slow)
        .await;
    let flow = format!(
        "id: order\ntyping: true\ntriggers: [{{ keyword: [order] }}]\nsteps:\n  - http: {{ method: GET, url: \"{}/o\", save_as: r }}\n  - send: \"Your order is {{{{ vars.r.body.state }}}}\"\n",
        slow.uri()
    );
    let app = spawn_with(Options {
        flows: vec![
            ("order.yaml", Box::leak(flow.into_boxed_str())),
            ("echo.yaml", ECHO_FLOW),
        ],
        config_edits: vec![(
            "flows: { dir: ",
            "flows: { allow_private_networks: true, typing_renew: 200ms, dir: ",
        )],
        ..Default::default()
    })
    .await;
    app.post_meta(&meta_text(CUSTOMER, "wamid.a.1", "order", now_unix()))
        .await;
    eventually(
        Duration::from_secs(5),
        "typing for the first customer",
        || async { meta_posts(&app).await.iter().any(is_typing).then_some(()) },
    )
    .await;
    app.post_meta(&meta_text(
        "16315551182",
        "wamid.b.1",
        "hi there",
        now_unix(),
    ))
    .await;
    let posts = eventually(
        Duration::from_secs(5),
        "the second customer's echo",
        || async {
            let posts = meta_posts(&app).await;
            posts
                .iter()
                .any(|p| body_text(p) == "echo: hi there")
                .then_some(posts)
        },
    )
    .await;
    assert!(
        !posts.iter().any(|p| body_text(p) == "Your order is late"),
        "the echo came while the first customer's step still waited"
    );
    eventually(Duration::from_secs(10), "the slow reply", || async {
        meta_posts(&app)
            .await
            .iter()
            .any(|p| body_text(p) == "Your order is late")
            .then_some(())
    })
    .await;
    app.shutdown().await;
}
