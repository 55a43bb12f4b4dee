//! The sandbox API end to end: a customer message injected over HTTP reaches the flows,
//! the bot's reply comes back with its delivery status, and the trace says which triggers
//! were considered and why.

use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;

const CUSTOMER: &str = "+34600000001";

use crate::helpers::{get_json as get, post_json as post};

#[tokio::test]
async fn an_injected_message_gets_the_reply_and_its_trace() {
    let app = spawn_app().await;
    let (status, body) = post(
        &app,
        "/sandbox/api/messages",
        json!({ "from": CUSTOMER, "name": "Ana", "text": "Hi there" }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["message"]["sender_id"], 3);
    assert_eq!(body["message"]["duplicate"], false);
    let replies = body["replies"].as_array().unwrap();
    assert_eq!(replies.len(), 1, "{body:#}");
    assert_eq!(replies[0]["summary"], "echo: Hi there");
    assert_eq!(replies[0]["status"], "accepted");
    let trace = &body["trace"]["trace"];
    assert_eq!(trace["triggers"]["winner"], "echo");
    assert_eq!(
        trace["triggers"]["verdicts"][0]["why"],
        "keyword `hi` = first word `hi`"
    );
    assert_eq!(trace["decisions"][0], "start flow `echo`");
    assert_eq!(
        trace["steps"],
        json!([{ "flow": "echo", "file": trace["steps"][0]["file"], "step": 1, "nested": false, "line": 5, "id": null, "op": "send" }]),
        "the steps the file has, not the jump added after them"
    );
    assert_eq!(trace["window"]["is_open"], true);
    let event_id = body["message"]["event_id"].as_i64().unwrap();
    let (status, again) = get(&app, &format!("/sandbox/api/events/{event_id}/trace")).await;
    assert_eq!(status, 200);
    assert_eq!(again["trace"], *trace);
    // The sandbox sends sent → delivered → read back through the webhook ingest path.
    let path = format!("/sandbox/api/contacts/{CUSTOMER}/messages");
    let messages = eventually(Duration::from_secs(10), "the read status", || async {
        let (_, m) = get(&app, &path).await;
        (m["messages"][1]["status"] == "read").then_some(m)
    })
    .await;
    assert_eq!(messages["messages"][0]["direction"], "in");
    assert_eq!(messages["messages"][0]["summary"], "Hi there");
    assert_eq!(messages["messages"][1]["direction"], "out");
    // An empty name leaves the contact's name as it was.
    let (status, body) = post(
        &app,
        "/sandbox/api/messages",
        json!({ "from": CUSTOMER, "name": "", "text": "Hi again" }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let (_, contact) = get(&app, &format!("/sandbox/api/contacts/{CUSTOMER}")).await;
    assert!(contact.to_string().contains("\"Ana\""), "{contact:#}");
    app.shutdown().await;
}

#[tokio::test]
async fn the_trace_of_a_message_that_matched_nothing_names_the_nearest_trigger() {
    let app = spawn_app().await;
    let (_, body) = post(
        &app,
        "/sandbox/api/messages",
        json!({ "from": CUSTOMER, "text": "hii" }),
    )
    .await;
    assert_eq!(body["replies"], json!([]));
    let triggers = &body["trace"]["trace"]["triggers"];
    assert_eq!(triggers["winner"], Value::Null);
    assert_eq!(triggers["verdicts"][0]["matched"], false);
    assert_eq!(
        triggers["verdicts"][0]["why"],
        "keyword `hi` ≠ first word `hii` (nor the whole message)"
    );
    assert_eq!(triggers["nearest"]["flow"], "echo");
    assert_eq!(
        triggers["nearest"]["why"],
        "the message `hii` is 1 letter away from the keyword `hi` (a typo?); keywords must match exactly after folding case, accents and punctuation"
    );
    assert_eq!(
        triggers["outcome"],
        "no flow starts: nothing matched and no flow has a `fallback` trigger"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_same_message_id_twice_is_one_reply() {
    let app = spawn_app().await;
    let msg = json!({ "from": CUSTOMER, "text": "hi", "id": "sandbox.dup.1" });
    let (_, first) = post(&app, "/sandbox/api/messages", msg.clone()).await;
    let (_, second) = post(&app, "/sandbox/api/messages", msg).await;
    assert_eq!(first["message"]["duplicate"], false);
    assert_eq!(second["message"]["duplicate"], true);
    assert_eq!(second["message"]["event_id"], Value::Null);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, m) = get(&app, &format!("/sandbox/api/contacts/{CUSTOMER}/messages")).await;
    let out: Vec<_> = m["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "out")
        .collect();
    assert_eq!(out.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn buttons_lists_media_and_locations_can_be_injected() {
    let flows = vec![
        ("echo.yaml", ECHO_FLOW),
        (
            "kinds.yaml",
            "id: kinds\ntriggers:\n  - button: pick\n  - type: [image, location]\nsteps:\n  - send: \"got {{ message.type }}\"\n",
        ),
    ];
    let app = spawn_with(Options {
        flows,
        ..Default::default()
    })
    .await;
    for (content, kind) in [
        (
            json!({ "button": { "id": "pick", "title": "Pick" } }),
            "button_reply",
        ),
        (
            json!({ "media": { "kind": "image", "url": "https://example.com/a.jpg", "caption": "look" } }),
            "image",
        ),
        (
            json!({ "location": { "latitude": 40.4, "longitude": -3.7, "name": "Shop" } }),
            "location",
        ),
    ] {
        let mut msg = json!({ "from": CUSTOMER });
        msg.as_object_mut()
            .unwrap()
            .extend(content.as_object().unwrap().clone());
        let (status, body) = post(&app, "/sandbox/api/messages", msg).await;
        assert_eq!(status, 200, "{body:#}");
        assert_eq!(
            body["replies"][0]["summary"],
            format!("got {kind}"),
            "{body:#}"
        );
    }
    let (_, contact) = get(&app, &format!("/sandbox/api/contacts/{CUSTOMER}")).await;
    assert_eq!(contact["window"]["is_open"], true);
    assert_eq!(contact["sender_id"], 3);
    app.shutdown().await;
}

#[tokio::test]
async fn bad_sandbox_requests_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    for (body, needle) in [
        (
            json!({ "from": CUSTOMER, "text": "hi", "button": { "id": "x" } }),
            "exactly one",
        ),
        (
            json!({ "from": "12", "text": "hi" }),
            "is not a phone number",
        ),
        (
            json!({ "from": CUSTOMER, "text": "hi", "sender_id": 1 }),
            "not a sandbox sender",
        ),
        (json!({ "from": CUSTOMER, "txt": "hi" }), "unknown field"),
        (
            json!({ "from": CUSTOMER, "location": { "latitude": 999.0, "longitude": 0.0 } }),
            "latitude must be between -90 and 90",
        ),
    ] {
        let (status, err) = post(&app, "/sandbox/api/messages", body).await;
        assert_eq!(status, 400, "{err:#}");
        assert_eq!(err["error"], "bad_request");
        assert!(err["message"].as_str().unwrap().contains(needle), "{err:#}");
    }
    let (status, _) = get(&app, "/sandbox/api/events/999/trace").await;
    assert_eq!(status, 404);
    // Mistakes axum catches before a handler answer in the sandbox's shape too.
    for (path, status, error) in [
        ("/sandbox/api/events/abc/trace", 404, "not_found"),
        ("/sandbox/api/events/1.5/trace", 404, "not_found"),
        ("/sandbox/api/contacts/%ff/messages", 404, "not_found"),
        (
            "/sandbox/api/contacts/+34600000001?sender_id=x",
            400,
            "bad_request",
        ),
    ] {
        let (got, err) = get(&app, path).await;
        assert_eq!(got, status, "{path}: {err:#}");
        assert_eq!(err["error"], error, "{path}: {err:#}");
        let message = err["message"].as_str().unwrap();
        assert!(!message.contains("i64"), "{path}: {message}");
    }
    let r = app
        .http
        .get(format!("{}/sandbox/api/messages", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"], "method_not_allowed", "{err:#}");
    let (status, err) = post(&app, "/sandbox/api/clock", json!({ "advance": "1h" })).await;
    assert_eq!(status, 409, "{err:#}");
    // Longer than a customer can write on WhatsApp: refused, naming the field and limit.
    for (body, needle) in [
        (
            json!({ "from": CUSTOMER, "text": "x".repeat(4_097) }),
            "text is 4097 characters long; WhatsApp allows at most 4096",
        ),
        (
            json!({ "from": CUSTOMER, "media": { "kind": "image", "url": "https://example.com/a.png", "caption": "é".repeat(4_097) } }),
            "media.caption is 4097 characters long; WhatsApp allows at most 4096",
        ),
        (
            json!({ "from": CUSTOMER, "name": "n".repeat(257), "text": "hi" }),
            "name is 257 characters long; WhatsApp allows at most 256",
        ),
    ] {
        let (status, err) = post(&app, "/sandbox/api/messages", body).await;
        assert_eq!(status, 422, "{err:#}");
        assert_eq!(err["error"], "validation_error", "{err:#}");
        assert_eq!(err["message"], needle, "{err:#}");
    }
    // 4,096 characters is a text WhatsApp sends.
    let (status, err) = post(
        &app,
        "/sandbox/api/explain",
        json!({ "from": CUSTOMER, "text": "x".repeat(4_096) }),
    )
    .await;
    assert_eq!(status, 200, "{err:#}");
    // Bodies have limits of their own: 64 KiB, and 2 MiB for a message (its file).
    for (path, size, limit) in [
        ("/sandbox/api/explain", 70_000, "64 KiB"),
        ("/sandbox/api/messages", 2_100_000, "2 MiB"),
    ] {
        let (status, err) = post(
            &app,
            path,
            json!({ "from": CUSTOMER, "text": "x".repeat(size) }),
        )
        .await;
        assert_eq!(status, 413, "{path}");
        assert_eq!(err["error"], "payload_too_large", "{path}: {err:#}");
        assert!(
            err["message"].as_str().unwrap().contains(limit),
            "{path}: {err:#}"
        );
    }
    let (_, m) = get(&app, &format!("/sandbox/api/contacts/{CUSTOMER}/messages")).await;
    assert_eq!(m["messages"], json!([]));
    app.shutdown().await;
}

#[tokio::test]
async fn flows_explain_and_the_manual_clock() {
    let app = spawn_with(Options {
        extra_yaml: "sandbox: { manual_clock: true }\n".into(),
        ..Default::default()
    })
    .await;
    let (_, flows) = get(&app, "/sandbox/api/flows").await;
    assert_eq!(flows["flows"][0]["id"], "echo");
    assert_eq!(flows["flows"][0]["triggers"][0]["trigger"], "keyword [hi]");
    assert_eq!(flows["problems"], json!([]));
    let (_, e) = post(
        &app,
        "/sandbox/api/explain",
        json!({ "from": "", "text": "HI!" }),
    )
    .await;
    assert_eq!(e["winner"], "echo");
    assert_eq!(e["normalized"], "hi");
    let (_, before) = get(&app, "/sandbox/api/clock").await;
    assert_eq!(before["manual"], true);
    let (status, after) = post(&app, "/sandbox/api/clock", json!({ "advance": "2h" })).await;
    assert_eq!(status, 200, "{after:#}");
    let t = |v: &Value| chrono::DateTime::parse_from_rfc3339(v["now"].as_str().unwrap()).unwrap();
    assert_eq!(t(&after) - t(&before), chrono::Duration::hours(2));
    // Past the longest duration: refused, and the clock stays put (it once wrapped to 1970).
    let (status, err) = post(&app, "/sandbox/api/clock", json!({ "advance": "500000y" })).await;
    assert_eq!(status, 400, "{err:#}");
    assert!(
        err.to_string().contains(
            "advance: `500000y` is longer than the longest Parley accepts, 10 years; write a shorter one"
        ),
        "{err:#}"
    );
    // `set` as far as `advance`: the year 9999 once made schedules fire in 2100 while the
    // clock read 10000. Never back (a window would have opened in the future and last for
    // years); a later date this year is fine.
    let (status, err) = post(
        &app,
        "/sandbox/api/clock",
        json!({ "set": "9999-12-31T23:59:59Z" }),
    )
    .await;
    assert_eq!(status, 400, "{err:#}");
    assert!(
        err.to_string()
            .contains("is more than 10 years from the clock's time"),
        "{err:#}"
    );
    let (_, now) = get(&app, "/sandbox/api/clock").await;
    assert_eq!(t(&now), t(&after));
    let earlier = t(&after) - chrono::Duration::days(30);
    let (status, err) = post(
        &app,
        "/sandbox/api/clock",
        json!({ "set": earlier.to_rfc3339() }),
    )
    .await;
    assert_eq!(status, 400, "{err:#}");
    assert!(
        err.to_string().contains("is before the clock's time")
            && err.to_string().contains("only moves forward"),
        "{err:#}"
    );
    let later = t(&after) + chrono::Duration::days(30);
    let (status, moved) = post(
        &app,
        "/sandbox/api/clock",
        json!({ "set": later.to_rfc3339() }),
    )
    .await;
    assert_eq!(status, 200, "{moved:#}");
    assert_eq!(t(&moved), later);
    app.shutdown().await;
}

/// With the clock stopped every message has the same time: the chat still reads in the
/// order it happened, each customer message followed by the bot's answer to it (it once
/// listed the customer's messages newest first, then every answer).
#[tokio::test]
async fn a_stopped_clock_keeps_the_chat_in_order() {
    let app = spawn_with(Options {
        extra_yaml: "sandbox: { manual_clock: true }\n".into(),
        ..Default::default()
    })
    .await;
    for n in 1..=3 {
        let (status, body) = post(
            &app,
            "/sandbox/api/messages",
            json!({ "from": CUSTOMER, "text": format!("hi {n}") }),
        )
        .await;
        assert_eq!(status, 200, "{body:#}");
    }
    let (_, chat) = get(&app, &format!("/sandbox/api/contacts/{CUSTOMER}/messages")).await;
    let lines: Vec<String> = chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{} {}",
                m["direction"].as_str().unwrap(),
                m["summary"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "in hi 1",
            "out echo: hi 1",
            "in hi 2",
            "out echo: hi 2",
            "in hi 3",
            "out echo: hi 3"
        ],
        "{chat:#}"
    );
    app.shutdown().await;
}

/// A jump of the sandbox's clock stops at each timer on the way: a message a flow sends
/// 23 hours after the customer wrote goes out then, inside the 24-hour window, not when a
/// +30h jump lands (with the window closed, it failed).
#[tokio::test]
async fn a_clock_jump_fires_each_timer_at_its_own_time() {
    let app = spawn_with(Options {
        extra_yaml: "sandbox: { manual_clock: true }\n".into(),
        flows: vec![(
            "late.yaml",
            "id: late\ntriggers: [{keyword: [late]}]\nsteps:\n  - send: first\n  - delay: 23h\n  - send: second\n",
        )],
        ..Default::default()
    })
    .await;
    let (status, body) = post(
        &app,
        "/sandbox/api/messages",
        json!({ "from": CUSTOMER, "text": "late" }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let (status, moved) = post(&app, "/sandbox/api/clock", json!({ "advance": "30h" })).await;
    assert_eq!(status, 200, "{moved:#}");
    assert_eq!(moved["timer_stops"], 1, "{moved:#}");
    let sent = eventually(Duration::from_secs(10), "the second message", || async {
        let (_, chat) = get(&app, &format!("/sandbox/api/contacts/{CUSTOMER}/messages")).await;
        chat["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["summary"] == "second" && m["status"] != "queued")
            .cloned()
    })
    .await;
    assert_ne!(sent["status"], "failed", "{sent:#}");
    assert_eq!(sent["window_closed"], false, "{sent:#}");
    let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    let (_, clock) = get(&app, "/sandbox/api/clock").await;
    assert_eq!(
        at(&clock["now"]) - at(&sent["at"]),
        chrono::Duration::hours(7)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn duplicated_and_reversed_statuses_leave_the_message_read() {
    let app = spawn_with(Options {
        extra_yaml: "sandbox: { statuses: { sent_after: 10ms, delivered_after: 20ms, read_after: 30ms, duplicates: true, out_of_order: true } }\n".into(),
        ..Default::default()
    })
    .await;
    let (_, body) = post(
        &app,
        "/sandbox/api/messages",
        json!({ "from": CUSTOMER, "text": "hi" }),
    )
    .await;
    assert_eq!(body["replies"].as_array().unwrap().len(), 1);
    let path = format!("/sandbox/api/contacts/{CUSTOMER}/messages");
    eventually(Duration::from_secs(10), "the read status", || async {
        let (_, m) = get(&app, &path).await;
        (m["messages"][1]["status"] == "read").then_some(())
    })
    .await;
    // Read came first; the later delivered and sent (each twice) change nothing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, m) = get(&app, &path).await;
    assert_eq!(m["messages"][1]["status"], "read");
    app.shutdown().await;
}

/// A menu whose question sits inside a switch case: 3 steps in the file, 9 compiled.
const MENU_FLOW: &str = r#"id: menu
triggers:
  - keyword: [menu]
steps:
  - set: { pick: "size" }
  - switch:
      on: vars.pick
      cases:
        size:
          - send: Small or large?
          - ask: { save_as: size }
        colour: { send: Which colour? }
  - send: "Noted: {{ vars.size }}"
"#;

#[tokio::test]
async fn steps_are_named_and_counted_as_the_file_has_them() {
    let app = spawn_with(Options {
        flows: vec![("menu.yaml", MENU_FLOW)],
        ..Default::default()
    })
    .await;
    let (_, flows) = get(&app, "/sandbox/api/flows").await;
    assert_eq!(flows["flows"][0]["steps"], 3, "{flows:#}");
    let (status, body) = post(
        &app,
        "/sandbox/api/messages",
        json!({ "from": CUSTOMER, "text": "menu" }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let trace = &body["trace"]["trace"];
    let steps: Vec<(String, u64, bool, u64)> = trace["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["op"].as_str().unwrap().to_string(),
                s["step"].as_u64().unwrap(),
                s["nested"].as_bool().unwrap(),
                s["line"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64, bool, u64)> = vec![
        ("set".into(), 1, false, 5),
        ("switch".into(), 2, false, 6),
        ("send".into(), 2, true, 10),
        ("ask".into(), 2, true, 11),
    ];
    assert_eq!(steps, expected, "{trace:#}");
    assert_eq!(
        trace["run_after"],
        "flow menu, line 11 (inside step 2), waiting for an answer"
    );
    let (_, contact) = get(&app, &format!("/sandbox/api/contacts/{CUSTOMER}")).await;
    assert_eq!(
        contact["run"],
        "flow menu, line 11 (inside step 2), waiting for an answer"
    );
    let (_, body) = post(
        &app,
        "/sandbox/api/messages",
        json!({ "from": CUSTOMER, "text": "large" }),
    )
    .await;
    let trace = &body["trace"]["trace"];
    let ops: Vec<(&str, u64)> = trace["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["op"].as_str().unwrap(), s["step"].as_u64().unwrap()))
        .collect();
    assert_eq!(ops, vec![("send", 3)], "{trace:#}");
    assert_eq!(body["replies"][0]["summary"], "Noted: large");
    app.shutdown().await;
}

/// A service that does not answer holds up only the conversation waiting for it: with one
/// inbox slot, another customer is answered while the first one's `http` step still waits
/// (the waiting step gives its slot back, as a model call does). It once held the slot,
/// and every other customer waited for that service's timeout.
#[tokio::test]
async fn a_slow_http_service_holds_up_only_the_customer_waiting_for_it() {
    use wiremock::{matchers::method, Mock, ResponseTemplate};
    let slow = wiremock::MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "ok": true }))
                .set_delay(Duration::from_secs(6)),
        )
        .mount(&slow)
        .await;
    let flow: &'static str = Box::leak(
        format!(
            "id: slow\ntriggers: [{{keyword: [slow]}}]\nsteps:\n  - http: {{ url: \"{}/s\", timeout: 10s, save_as: r }}\n  - send: \"slow done\"\n",
            slow.uri()
        )
        .into_boxed_str(),
    );
    let app = spawn_with(Options {
        flows: vec![("echo.yaml", ECHO_FLOW), ("slow.yaml", flow)],
        config_edits: vec![
            (
                "flows: { dir: ",
                "flows: { allow_private_networks: true, dir: ",
            ),
            (
                "inbox: { poll_interval: 50ms }",
                "inbox: { poll_interval: 50ms, concurrency: 1 }",
            ),
        ],
        ..Default::default()
    })
    .await;
    let (status, body) = post(
        &app,
        "/sandbox/api/messages?wait_seconds=1",
        json!({ "from": "+34600000001", "text": "slow" }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    for _ in 0..200 {
        if !slow
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (status, body) = post(
        &app,
        "/sandbox/api/messages?wait_seconds=20",
        json!({ "from": "+34600000002", "text": "hi there" }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["replies"][0]["summary"], "echo: hi there", "{body:#}");
    // Answered before the slow service was: the first customer's flow still waits.
    let (_, first) = get(&app, "/sandbox/api/contacts/+34600000001/messages").await;
    assert!(
        !first.to_string().contains("slow done"),
        "the second customer waited for the first one's service: {first:#}"
    );
    app.shutdown().await;
}

/// `ask … expect: phone` takes only a number the API would send to (valid in its
/// country's numbering plan), and the README's example passes it.
#[tokio::test]
async fn an_ask_for_a_phone_number_takes_what_the_api_would_send_to() {
    const PHONE: &str = "id: phone\ntriggers:\n  - keyword: [phone]\nsteps:\n  - ask: { text: \"Your number?\", expect: phone, save_as: n }\n  - send: \"saved {{ vars.n }}\"\n";
    let app = spawn_with(Options {
        flows: vec![("phone.yaml", PHONE)],
        ..Options::default()
    })
    .await;
    let say = |text: &'static str| {
        let app = &app;
        async move {
            let (status, body) = post_json(
                app,
                "/sandbox/api/messages",
                serde_json::json!({ "from": "+34600000001", "text": text }),
            )
            .await;
            assert_eq!(status, 200, "{body:#}");
            body["replies"][0]["summary"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    };
    assert_eq!(say("phone").await, "Your number?");
    for outside in ["+1 234 567 890", "+44 7700 900123"] {
        assert_eq!(
            say(outside).await,
            "Please send a phone number with its country code, like +44 7911 123456.",
            "{outside}"
        );
    }
    assert_eq!(say("+44 7911 123456").await, "saved +447911123456");
    app.shutdown().await;
}

/// A customer who never wrote has the same keys as one who did: no conversation, no
/// handoff (both null, as the README and the OpenAPI document say), no messages.
#[tokio::test]
async fn a_customer_who_never_wrote_has_every_key_of_the_chat() {
    let app = spawn_app().await;
    let (status, chat) = get(&app, "/sandbox/api/contacts/%2B34600000009/messages").await;
    assert_eq!(status, 200, "{chat:#}");
    assert_eq!(chat["phone"], "+34600000009", "{chat:#}");
    assert!(chat["conversation_id"].is_null() && chat.get("conversation_id").is_some());
    assert!(chat["handoff"].is_null() && chat.get("handoff").is_some());
    assert_eq!(chat["messages"], serde_json::json!([]));
    app.shutdown().await;
}
