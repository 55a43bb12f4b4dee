//! Outbox delivery against provider doubles: retries, closed windows, order, stopped senders.

use crate::helpers::*;
use parley::domain::DeliveryStatus;
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

async fn only_reply(app: &TestApp, contact: &str) -> parley::store::OutboundRecord {
    let conv = eventually(Duration::from_secs(10), "conversation", || async {
        app.store.find_conversation(1, contact).await.unwrap()
    })
    .await;
    eventually(
        Duration::from_secs(10),
        "a reply with a final status",
        || async {
            let m = app
                .store
                .conversation_outbound(conv.id, None, 1)
                .await
                .unwrap()
                .pop()?;
            (m.status != DeliveryStatus::Queued).then_some(m)
        },
    )
    .await
}

#[tokio::test]
async fn provider_500_then_200_delivers_the_message_once() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path_regex("/messages$"))
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream trouble"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.meta)
        .await;
    app.post_meta(&meta_text(
        "16315551181",
        "wamid.r.1",
        "hi retry",
        now_unix(),
    ))
    .await;
    let msg = only_reply(&app, "+16315551181").await;
    assert_eq!(msg.status, DeliveryStatus::Accepted);
    assert_eq!(
        msg.attempts, 1,
        "one failed attempt recorded before success"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sends = app.meta_sends().await;
    assert_eq!(sends.len(), 2, "one 500 and one 200");
    assert_eq!(sends[0], sends[1], "the retry sends the same message");
    app.shutdown().await;
}

#[tokio::test]
async fn provider_131047_leaves_a_closed_window_failure() {
    let app = spawn_app().await;
    let body: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!(
            "{FIXTURES}/meta/outbound_error_131047_response.json"
        ))
        .unwrap(),
    )
    .unwrap();
    Mock::given(method("POST"))
        .and(path_regex("/messages$"))
        .respond_with(ResponseTemplate::new(400).set_body_json(body))
        .with_priority(1)
        .mount(&app.meta)
        .await;
    app.post_meta(&meta_text(
        "16315551181",
        "wamid.w.1",
        "hi window",
        now_unix(),
    ))
    .await;
    let msg = only_reply(&app, "+16315551181").await;
    assert_eq!(msg.status, DeliveryStatus::Failed);
    assert_eq!(msg.error_code, Some(131047));
    assert!(msg.window_closed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.meta_sends().await.len(),
        1,
        "a closed window is not retried"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_reply_to_a_message_older_than_the_window_is_not_sent_free_form() {
    let app = spawn_app().await;
    // The customer's message was sent 25 hours ago (delivered late by the provider).
    let old = now_unix() - 25 * 3600;
    app.post_meta(&meta_text(
        "16315551181",
        "wamid.old.1",
        "hi from yesterday",
        old,
    ))
    .await;
    let msg = only_reply(&app, "+16315551181").await;
    assert_eq!(msg.status, DeliveryStatus::Failed);
    assert!(msg.window_closed);
    assert!(msg.error_title.unwrap().contains("window is closed"));
    assert!(
        app.meta_sends().await.is_empty(),
        "nothing reached the provider"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn fifty_messages_for_one_contact_arrive_in_order_while_others_proceed() {
    let app = spawn_app().await;
    // A slow provider makes out-of-order delivery likely if order were not enforced.
    app.meta.reset().await;
    Mock::given(method("POST"))
        .and(path_regex("/messages$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"messages": [{"id": "wamid.slow"}]}))
                .set_delay(Duration::from_millis(15)),
        )
        .mount(&app.meta)
        .await;
    let others = {
        let http = app.http.clone();
        let addr = app.addr.clone();
        tokio::spawn(async move {
            for round in 0..5 {
                for c in 0..10 {
                    let body = meta_text(
                        &format!("4477009001{c:02}"),
                        &format!("wamid.o.{c}.{round}"),
                        &format!("hi other {c} {round}"),
                        now_unix(),
                    );
                    let res = http
                        .post(format!("{addr}/webhooks/meta"))
                        .header("x-hub-signature-256", sign_meta(&body))
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 200);
                }
            }
        })
    };
    for i in 1..=50 {
        let res = app
            .post_meta(&meta_text(
                "16315551181",
                &format!("wamid.seq.{i}"),
                &format!("hi {i}"),
                now_unix(),
            ))
            .await;
        assert_eq!(res.status(), 200);
    }
    others.await.unwrap();
    let sends = app.wait_meta_sends(100, Duration::from_secs(30)).await;
    let mine: Vec<String> = sends
        .iter()
        .filter(|s| s["to"] == "16315551181")
        .map(|s| body_text(s).to_string())
        .collect();
    let expected: Vec<String> = (1..=50).map(|i| format!("echo: hi {i}")).collect();
    assert_eq!(mine, expected);
    for c in 0..10 {
        let to = format!("4477009001{c:02}");
        let theirs: Vec<String> = sends
            .iter()
            .filter(|s| s["to"] == to.as_str())
            .map(|s| body_text(s).to_string())
            .collect();
        let expected: Vec<String> = (0..5).map(|r| format!("echo: hi other {c} {r}")).collect();
        assert_eq!(theirs, expected, "contact {to}");
    }
    app.shutdown().await;
}

/// The Meta double answers every send with Meta's expired-token error (190).
async fn answer_every_send_190(app: &TestApp) {
    let body: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("{FIXTURES}/meta/outbound_error_190_response.json")).unwrap(),
    )
    .unwrap();
    Mock::given(method("POST"))
        .and(path_regex("/messages$"))
        .respond_with(ResponseTemplate::new(401).set_body_json(body))
        .with_priority(1)
        .mount(&app.meta)
        .await;
}

#[tokio::test]
async fn expired_token_190_stops_the_sender_and_keeps_the_message_queued() {
    let app = spawn_app().await;
    answer_every_send_190(&app).await;
    app.post_meta(&meta_text(
        "16315551181",
        "wamid.t.1",
        "hi token",
        now_unix(),
    ))
    .await;
    let stops = eventually(
        Duration::from_secs(10),
        "the sender to be stopped",
        || async {
            let s = app.store.stopped_senders().await.unwrap();
            (!s.is_empty()).then_some(s)
        },
    )
    .await;
    assert_eq!(stops[0].sender_id, 1);
    assert_eq!(stops[0].code, Some(190));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.meta_sends().await.len(),
        1,
        "no more attempts while stopped"
    );
    let r: serde_json::Value = app
        .http
        .get(format!("{}/readyz", app.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["stopped_senders"][0]["sender_id"], 1);
    let conv = app
        .store
        .find_conversation(1, "+16315551181")
        .await
        .unwrap()
        .unwrap();
    let msg = app
        .store
        .conversation_outbound(conv.id, None, 1)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(msg.status, DeliveryStatus::Queued);
    app.shutdown().await;
}

/// Sends already claimed when the provider stops the sender (190) do not go out after it
/// into the same refusal: with the sender paced at 1 a second, five replies wait their turn
/// when the first meets the 190, and none of them is tried (each tried at its turn before).
#[tokio::test]
async fn sends_claimed_before_a_190_are_not_tried_after_it() {
    let app = spawn_with(Options {
        config_edits: vec![(
            "messages_per_second: 1000\n    meta:",
            "messages_per_second: 1\n    meta:",
        )],
        ..Default::default()
    })
    .await;
    answer_every_send_190(&app).await;
    for n in 1..=5 {
        app.post_meta(&meta_text(
            &format!("1631555118{n}"),
            &format!("wamid.stop.{n}"),
            "hi there",
            now_unix(),
        ))
        .await;
    }
    eventually(
        Duration::from_secs(10),
        "the sender to be stopped",
        || async {
            let s = app.store.stopped_senders().await.unwrap();
            (!s.is_empty()).then_some(())
        },
    )
    .await;
    // At 1 a second two or three others would have been tried within 2.5 s.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        app.meta_sends().await.len(),
        1,
        "no send tried after the stop"
    );
    app.shutdown().await;
}

/// One outbox slot, sends that take 2.5 s at the Meta double, a send lease of 8 s (the
/// larger of `lease` and twice the 4 s send timeout, `Outbox::send_lease`), so a reply
/// handed over in memory renews its lease once it has waited 4 s for the slot. The clock stands still, as a test's manual clock does: leases never
/// run out by it.
async fn one_slow_slot() -> TestApp {
    let app = spawn_with(Options {
        manual_clock: true,
        config_edits: vec![(
            "outbox: { poll_interval: 50ms, send_timeout: 2s,",
            "outbox: { concurrency: 1, lease: 2s, poll_interval: 50ms, send_timeout: 4s,",
        )],
        ..Default::default()
    })
    .await;
    Mock::given(method("POST"))
        .and(path_regex(META_SENDS))
        .respond_with(|req: &wiremock::Request| {
            meta_accepts(req).set_delay(Duration::from_millis(2_500))
        })
        .with_priority(1)
        .mount(&app.meta)
        .await;
    app
}

/// `customer` writes "hi" (the echo flow answers) at the app's clock.
async fn say_hi(app: &TestApp, customer: &str) {
    let now = {
        use parley::domain::Clock;
        app.clock.as_ref().expect("manual clock").now().timestamp()
    };
    let wamid = format!("wamid.hi.{customer}");
    let r = app.post_meta(&meta_text(customer, &wamid, "hi", now)).await;
    assert_eq!(r.status(), 200);
}

/// The reply queued for `customer`, once there is one.
async fn queued_reply(app: &TestApp, customer: &str) -> parley::store::OutboundRecord {
    eventually(Duration::from_secs(10), "the reply is queued", || async {
        let conv = app
            .store
            .find_conversation(1, &format!("+{customer}"))
            .await
            .unwrap()?;
        app.store
            .conversation_outbound(conv.id, None, 1)
            .await
            .unwrap()
            .pop()
    })
    .await
}

/// Whom the Meta double's sends went to, sorted.
async fn sent_to(app: &TestApp) -> Vec<String> {
    let mut to: Vec<String> = app
        .meta_sends()
        .await
        .iter()
        .map(|s| s["to"].as_str().unwrap().to_string())
        .collect();
    to.sort();
    to
}

/// A step's reply handed to the outbox in memory that waits for a slot past half its lease
/// renews the lease before it goes, and goes once (`workers::LeasedSend`): three
/// customers' replies behind one slow slot, so the third waits 5 s. A reply left for a
/// claim instead would never go (its lease never runs out by the clock), and one whose
/// renewal failed would not go either.
#[tokio::test]
async fn a_handed_reply_that_waited_past_half_its_lease_renews_it_and_goes_once() {
    let app = one_slow_slot().await;
    let customers = ["16315551181", "16315551182", "16315551183"];
    for customer in customers {
        say_hi(&app, customer).await;
    }
    app.wait_meta_sends(3, Duration::from_secs(30)).await;
    // Nothing more comes: a fourth send would be a duplicate.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sent_to(&app).await, customers);
    for customer in customers {
        let reply = only_reply(&app, &format!("+{customer}")).await;
        assert_eq!(reply.status, DeliveryStatus::Accepted);
        assert_eq!(reply.attempts, 0, "sent at the first attempt, not put back");
    }
    app.shutdown().await;
}

/// A reply handed over in memory that a claim took back while it waited for a slot (its
/// lease ran out: here another process's claim is played by a write to the database) is not
/// sent from memory: it goes once, by the claim that holds it. Four customers write one
/// after the other, so the fourth reply waits behind three 2.5 s sends (about 7.5 s).
#[tokio::test]
async fn a_handed_reply_a_claim_took_back_is_not_sent_from_memory() {
    let app = one_slow_slot().await;
    let customers = ["16315551181", "16315551182", "16315551183", "16315551184"];
    say_hi(&app, customers[0]).await;
    app.wait_meta_sends(1, Duration::from_secs(10)).await;
    for customer in &customers[1..] {
        say_hi(&app, customer).await;
        queued_reply(&app, customer).await;
    }
    // What a claim of another process does to a send whose lease ran out (`CLAIM_SENDS`):
    // puts it back without a lease, counts an attempt, and waits before sending it.
    let last = queued_reply(&app, customers[3]).await;
    let db = rusqlite::Connection::open(app._dir.path().join("parley.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let put_back = db
        .execute(
            "update outbound_messages set lease_owner = null, lease_until = null,
                 attempts = attempts + 1, next_attempt_at = ?2
             where id = ?1 and lease_owner is not null",
            rusqlite::params![last.id, i64::MAX / 2],
        )
        .unwrap();
    assert_eq!(put_back, 1, "the fourth reply was still leased and waiting");
    // The third reply has gone and its slot is free: the fourth, in memory, had its turn.
    let third = only_reply(&app, &format!("+{}", customers[2])).await;
    assert_eq!(third.status, DeliveryStatus::Accepted);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(sent_to(&app).await, customers[..3], "not sent from memory");
    // Its wait over, the claim sends it: once in all.
    db.execute(
        "update outbound_messages set next_attempt_at = 0 where id = ?1",
        [last.id],
    )
    .unwrap();
    app.wait_meta_sends(4, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sent_to(&app).await, customers);
    let reply = only_reply(&app, &format!("+{}", customers[3])).await;
    assert_eq!(reply.status, DeliveryStatus::Accepted);
    assert_eq!(reply.attempts, 1);
    app.shutdown().await;
}
