//! Webhook ingress through HTTP: signatures, deduplication, routing, limits.

use crate::helpers::*;
use parley::domain::DeliveryStatus;
use std::time::Duration;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
}

#[tokio::test]
async fn meta_handshake_echoes_the_challenge_only_for_the_right_token() {
    let app = spawn_app().await;
    let ok = app
        .http
        .get(format!("{}/webhooks/meta?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let bad = app
        .http
        .get(format!(
            "{}/webhooks/meta?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1",
            app.addr
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 403);
    // The right token with something else wrong: the answer names that, not the token.
    for (query, says) in [
        (
            "hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1",
            "verify token does not match",
        ),
        (
            "hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1",
            "hub.mode must be `subscribe`",
        ),
        (
            "hub.verify_token=verify-me&hub.challenge=1",
            "hub.mode must be `subscribe`",
        ),
        (
            "hub.mode=subscribe&hub.verify_token=verify-me",
            "hub.challenge is missing",
        ),
    ] {
        let r = app
            .http
            .get(format!("{}/webhooks/meta?{query}", app.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{query}");
        let body = r.text().await.unwrap();
        assert!(body.contains(says), "{query}: {body}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn fixture_with_its_worked_signature_is_accepted_and_answered() {
    // The fixture was sent at 2026-01-01T00:00:12Z; the clock stands 18 s later, inside its
    // window.
    let app = spawn_with(Options {
        manual_clock: true,
        ..Default::default()
    })
    .await;
    assert!(app.clock.is_some());
    let body = fixture("meta/text.json");
    let res = app
        .http
        .post(format!("{}/webhooks/meta", app.addr))
        .header(
            "x-hub-signature-256",
            "sha256=68e90f03ca29c9a93658af5bc25a8017e2f37bf6b07128ea6de4793100ddca28",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let sends = app.wait_meta_sends(1, Duration::from_secs(10)).await;
    assert_eq!(sends[0]["to"], "16315551181");
    assert_eq!(
        body_text(&sends[0]),
        "echo: Hi, is my order #4821 shipped yet?"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn bad_signature_is_401_and_stores_nothing() {
    let app = spawn_app().await;
    let body = meta_text("16315551181", "wamid.bad.1", "hi", now_unix());
    for sig in [
        None,
        Some("sha256=00"),
        Some("sha1=abc"),
        Some(sign_meta(b"other body").leak() as &str),
    ] {
        let mut req = app
            .http
            .post(format!("{}/webhooks/meta", app.addr))
            .body(body.clone());
        if let Some(s) = sig {
            req = req.header("x-hub-signature-256", s);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "signature {sig:?}");
        let json: serde_json::Value = res.json().await.unwrap();
        assert_eq!(json["error_code"], "UNAUTHORIZED");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(app
        .store
        .find_conversation(1, "+16315551181")
        .await
        .unwrap()
        .is_none());
    assert!(app.meta_sends().await.is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn duplicate_webhook_produces_one_stored_message_and_one_reply() {
    let app = spawn_app().await;
    let body = meta_text("16315551181", "wamid.dup.1", "hi twice", now_unix());
    for _ in 0..3 {
        assert_eq!(app.post_meta(&body).await.status(), 200);
    }
    let sends = app.wait_meta_sends(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sends_after = app.meta_sends().await;
    assert_eq!(sends_after.len(), 1, "one reply, got {sends_after:#?}");
    assert_eq!(body_text(&sends[0]), "echo: hi twice");
    let conv = app
        .store
        .find_conversation(1, "+16315551181")
        .await
        .unwrap()
        .unwrap();
    let outbound = app
        .store
        .conversation_outbound(conv.id, None, 10)
        .await
        .unwrap();
    assert_eq!(outbound.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn unknown_sender_and_unknown_event_types_are_acknowledged_and_ignored() {
    let app = spawn_app().await;
    let other = String::from_utf8(meta_text("16315551181", "wamid.x.1", "hi", now_unix()))
        .unwrap()
        .replace(PHONE_NUMBER_ID, "999999999999999");
    assert_eq!(app.post_meta(other.as_bytes()).await.status(), 200);
    let template_update = fixture("meta/non_message_field.json");
    assert_eq!(app.post_meta(&template_update).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app
        .store
        .find_conversation(1, "+16315551181")
        .await
        .unwrap()
        .is_none());
    assert!(app.meta_sends().await.is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn oversized_body_is_413_and_malformed_json_is_400() {
    let app = spawn_app().await;
    let big = vec![b' '; 2 * 1024 * 1024];
    let res = app.post_meta(&big).await;
    assert_eq!(res.status(), 413);
    // JSON like every other webhook error, naming the limit.
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error_code"], "PAYLOAD_TOO_LARGE", "{body}");
    assert!(body["error"].as_str().unwrap().contains("1 MiB"), "{body}");
    let res = app.post_meta(b"{not json").await;
    assert_eq!(res.status(), 400);
    app.shutdown().await;
}

#[tokio::test]
async fn status_webhooks_move_the_message_forward_only() {
    let app = spawn_app().await;
    app.post_meta(&meta_text(
        "16315551181",
        "wamid.st.1",
        "hi status",
        now_unix(),
    ))
    .await;
    app.wait_meta_sends(1, Duration::from_secs(10)).await;
    let conv = app
        .store
        .find_conversation(1, "+16315551181")
        .await
        .unwrap()
        .unwrap();
    let msg = eventually(Duration::from_secs(5), "accepted reply", || async {
        let m = app
            .store
            .conversation_outbound(conv.id, None, 1)
            .await
            .unwrap()
            .pop()?;
        (m.status == DeliveryStatus::Accepted).then_some(m)
    })
    .await;
    let wamid = msg.provider_message_id.clone().unwrap();
    for status in ["read", "sent", "delivered", "read"] {
        assert_eq!(
            app.post_meta(&meta_status(&wamid, status, None, now_unix()))
                .await
                .status(),
            200
        );
    }
    let stored = app.store.outbound(msg.id).await.unwrap().unwrap();
    assert_eq!(stored.status, DeliveryStatus::Read);
    app.shutdown().await;
}

#[tokio::test]
async fn twilio_fixture_with_worked_signature_is_stored_and_answered_through_twilio() {
    let app = spawn_app().await;
    let res = app
        .http
        .post(format!("{}/webhooks/twilio", app.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", "D60o3B3Ig8ML4LnbUwE5+tr6zUo=")
        .body(fixture("twilio/inbound_text.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("<Response>"));
    let req = eventually(
        Duration::from_secs(10),
        "a send at the Twilio double",
        || async {
            app.twilio
                .received_requests()
                .await
                .unwrap_or_default()
                .into_iter()
                .next()
        },
    )
    .await;
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&req.body).unwrap();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("To"), Some("whatsapp:+16315551181"));
    assert_eq!(get("From"), Some("whatsapp:+15550783881"));
    assert_eq!(
        get("Body"),
        Some("echo: Hi, is my order #4821 shipped yet?")
    );

    let bad = app
        .http
        .post(format!("{}/webhooks/twilio", app.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", "D60o3B3Ig8ML4LnbUwE5+tr6zUo=")
        .body(
            fixture("twilio/inbound_text.txt")
                .into_iter()
                .chain(b"&x=1".iter().copied())
                .collect::<Vec<u8>>(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    app.shutdown().await;
}

/// A Twilio body that is not a form Parley can read (here: not UTF-8 once decoded) is
/// refused 400 and counted as malformed, as Meta's are.
#[tokio::test]
async fn a_twilio_body_that_is_not_a_form_is_400_and_counted() {
    let app = spawn_app().await;
    let series = "parley_webhooks_rejected_total{provider=\"twilio\",reason=\"malformed\"}";
    let before =
        metric_value_or_none(&metrics_page(&app.http, &app.addr).await, series).unwrap_or(0.0);
    let res = app
        .http
        .post(format!("{}/webhooks/twilio", app.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", "D60o3B3Ig8ML4LnbUwE5+tr6zUo=")
        .body("Body=%FF%FE&From=whatsapp%3A%2B16315551181")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let after = metric_value(&metrics_page(&app.http, &app.addr).await, series);
    assert_eq!(after, before + 1.0);
    app.shutdown().await;
}

/// An unsigned Twilio body is refused before it is read, and a form of more parameters
/// than Twilio ever sends is refused before any is decoded: half a million `a&a&…` pairs
/// cost a quarter second of the HTTP thread each (sorted and hashed), a denial of service
/// for every webhook behind it.
#[tokio::test]
async fn twilio_bodies_are_refused_before_costly_work() {
    let app = spawn_app().await;
    let flood = "a&".repeat(500_000);
    let post = |signature: Option<&'static str>| {
        let mut r = app
            .http
            .post(format!("{}/webhooks/twilio", app.addr))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(flood.clone());
        if let Some(s) = signature {
            r = r.header("x-twilio-signature", s);
        }
        r.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 401);
    assert_eq!(post(Some("junk")).await.unwrap().status(), 401);
    let res = post(Some("D60o3B3Ig8ML4LnbUwE5+tr6zUo=")).await.unwrap();
    assert_eq!(res.status(), 400);
    let body = res.text().await.unwrap();
    assert!(body.contains("500000 parameters"), "{body}");
    app.shutdown().await;
}

#[tokio::test]
async fn health_ready_and_metrics_answer() {
    let app = spawn_app().await;
    app.post_meta(&meta_text(
        "16315551181",
        "wamid.m.1",
        "hi metrics",
        now_unix(),
    ))
    .await;
    app.wait_meta_sends(1, Duration::from_secs(10)).await;
    let h = app
        .http
        .get(format!("{}/healthz", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), 200);
    let r: serde_json::Value = app
        .http
        .get(format!("{}/readyz", app.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "ready");
    assert_eq!(r["flows"]["loaded"], 1);
    let m = metrics_page(&app.http, &app.addr).await;
    assert!(m.contains("parley_webhooks_received_total"), "{m}");
    assert!(m.contains("parley_outbox_depth"), "{m}");
    app.shutdown().await;
}

/// The series names README.md lists under "Operations" (`GET /metrics`).
fn documented_series() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("- `GET /metrics`")
        .expect("README lists the metrics under `GET /metrics`");
    let section = &readme[start..];
    let end = section[1..].find("\n- ").map_or(section.len(), |i| i + 1);
    let re = regex::Regex::new(r"`(parley_[a-z0-9_]+)").unwrap();
    let mut names: Vec<String> = re
        .captures_iter(&section[..end])
        .map(|c| c[1].to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn every_documented_series_has_help_and_is_there_from_start() {
    let documented = documented_series();
    assert!(documented.len() >= 20, "{documented:?}");
    let mut in_code: Vec<String> = parley::metrics::documented().map(String::from).collect();
    in_code.sort();
    assert_eq!(
        documented, in_code,
        "README's metrics list and the described series differ"
    );
    let app = spawn_app().await;
    let page = metrics_page(&app.http, &app.addr).await;
    for name in &documented {
        assert!(
            page.contains(&format!("# HELP {name} ")),
            "no # HELP for {name}:\n{page}"
        );
        let has_series = page.lines().any(|l| {
            l.strip_prefix(name.as_str()).is_some_and(|rest| {
                rest.starts_with(' ')
                    || rest.starts_with('{')
                    || rest.starts_with("_bucket")
                    || rest.starts_with("_count")
            })
        });
        assert!(has_series, "no series {name} before any event:\n{page}");
    }
    // Per-sender series exist for each configured sender (1, 2 and the sandbox 3); their
    // values are shared with the other tests of this process.
    for sender in [1, 2, 3] {
        for name in ["parley_sender_stopped", "parley_messages_sent_total"] {
            assert!(
                page.contains(&format!("{name}{{sender=\"{sender}\"}} ")),
                "no {name} for sender {sender}:\n{page}"
            );
        }
    }
    app.shutdown().await;
}
