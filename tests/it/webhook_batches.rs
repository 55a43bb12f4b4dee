//! Issue 13, item 13: one message Parley cannot read never refuses the webhook. A Meta batch
//! holding Meta's "unsupported payload" form, a message without `type` and a location whose
//! latitude is not a number, beside a valid message, is answered 200 and the valid message
//! is answered by the flow; and arbitrary edits of the fixture payloads, signed, are
//! answered 200 whenever they are JSON (400 otherwise), never a 5xx.

use crate::fuzz::{meta_fixtures, mutated};
use crate::helpers::{now_unix, spawn_app, PHONE_NUMBER_ID};
use parley::channels::meta;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn batch(ts: i64) -> Vec<u8> {
    let ts = ts.to_string();
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
            "contacts": [{ "profile": { "name": "Tester" }, "wa_id": "16315551181" }],
            "messages": [
                { "from": "16315551181", "id": "wamid.batch.unsupported", "timestamp": ts, "type": "interactive",
                  "errors": [{ "code": 131051, "title": "Message type unknown", "message": "Message type unknown",
                               "error_data": { "details": "Message type is currently not supported." } }] },
                { "from": "16315551181", "id": "wamid.batch.notype", "timestamp": ts, "text": { "body": "hi no type" } },
                { "from": "16315551181", "id": "wamid.batch.location", "timestamp": ts, "type": "location",
                  "location": { "latitude": "north", "longitude": 2.17 } },
                { "from": "16315551181", "id": "wamid.batch.good", "timestamp": ts, "type": "text",
                  "text": { "body": "hi from the batch" } }
            ],
            "statuses": [{ "id": "wamid.nothing", "status": 7 }]
        }}]}]
    }))
    .unwrap()
}

#[tokio::test]
async fn one_unreadable_message_does_not_refuse_the_batch() {
    let app = spawn_app().await;
    let res = app.post_meta(&batch(now_unix())).await;
    assert_eq!(res.status(), 200);
    // Four messages stored (three as unsupported), the unreadable status skipped.
    assert_eq!(res.text().await.unwrap(), "EVENT_RECEIVED 4");
    let sends = app.wait_meta_sends(1, Duration::from_secs(10)).await;
    assert!(
        sends
            .iter()
            .any(|s| s["text"]["body"] == "echo: hi from the batch"),
        "{sends:#?}"
    );
    let stored = app
        .store
        .find_conversation(1, "+16315551181")
        .await
        .unwrap();
    assert!(stored.is_some(), "the batch's conversation exists");
    app.shutdown().await;
}

#[test]
fn fuzz_mutated_fixtures_that_are_json_always_parse() {
    crate::fuzz::fuzz(
        "meta mutated fixtures, JSON only",
        mutated(meta_fixtures()),
        |body| {
            if serde_json::from_slice::<Value>(&body).is_ok() {
                proptest::prop_assert!(meta::webhook::parse(&body).is_ok());
            }
            Ok(())
        },
    );
}

/// Through HTTP with a valid signature: 200 for JSON (UTF-8 text in JSON's syntax, whatever
/// its numbers' size), 400 for the rest, never anything else. 150 bodies, or as many as fit
/// in `PARLEY_FUZZ_SECONDS`.
#[tokio::test]
async fn fuzz_signed_mutated_webhooks_are_answered_200_whenever_they_are_json() {
    let app = spawn_app().await;
    let seconds: u64 = std::env::var("PARLEY_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let strategy = mutated(meta_fixtures());
    let mut runner = TestRunner::deterministic();
    let mut cases = 0u64;
    while cases < 150 || Instant::now() < deadline {
        let body = strategy.new_tree(&mut runner).unwrap().current();
        let is_json = std::str::from_utf8(&body)
            .is_ok_and(|text| serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok());
        let res = app.post_meta(&body).await;
        let status = res.status().as_u16();
        let expected = if is_json { 200 } else { 400 };
        assert_eq!(
            status,
            expected,
            "body {:?}: {}",
            String::from_utf8_lossy(&body),
            res.text().await.unwrap_or_default()
        );
        cases += 1;
    }
    if seconds > 0 {
        eprintln!("fuzz signed meta webhooks over HTTP: {cases} cases in {seconds}s, no failure");
    }
    app.shutdown().await;
}
