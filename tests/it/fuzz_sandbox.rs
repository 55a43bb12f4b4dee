//! Property-based fuzzing of the sandbox API through HTTP: arbitrary and mutated JSON bodies
//! posted to every sandbox endpoint that takes one, and arbitrary path segments to those that
//! read. None may get a 5xx or stop the daemon, and a well-formed message is still answered
//! afterwards. 150 cases per endpoint by default; `PARLEY_FUZZ_SECONDS=600` runs each
//! endpoint for that long instead.

use crate::helpers::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Any JSON value, a few levels deep, with strings that look like what the API expects.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[+0-9]{0,20}".prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
        Just(Value::from("x".repeat(70_000))),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("from".to_string()),
                    Just("text".to_string()),
                    Just("name".to_string()),
                    Just("button".to_string()),
                    Just("list".to_string()),
                    Just("media".to_string()),
                    Just("location".to_string()),
                    Just("sender_id".to_string()),
                    Just("id".to_string()),
                    Just("referral".to_string()),
                    Just("advance".to_string()),
                    Just("set".to_string()),
                    "[a-z_]{1,10}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid message with one field replaced by anything.
fn mutated_message() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just("from"),
            Just("text"),
            Just("name"),
            Just("button"),
            Just("media"),
            Just("location"),
            Just("sender_id"),
            Just("id"),
        ],
        any_json(),
    )
        .prop_map(|(field, value)| {
            let mut body = json!({"from": "+34600000001", "name": "Ana", "text": "hi"});
            body[field] = value;
            body
        })
}

fn budget() -> (u64, Duration) {
    let seconds: u64 = std::env::var("PARLEY_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (150, Duration::from_secs(seconds))
}

/// Posts values of `strategy` to `path` until the budget is spent; every answer is < 500.
async fn fuzz_post<S: Strategy<Value = Value>>(app: &TestApp, path: &str, strategy: S) {
    let (min_cases, time) = budget();
    let deadline = Instant::now() + time;
    let mut runner = TestRunner::new(Config::default());
    let mut cases = 0u64;
    while cases < min_cases || Instant::now() < deadline {
        let value = strategy.new_tree(&mut runner).unwrap().current();
        let res = app
            .http
            .post(format!("{}{path}?wait=false", app.addr))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&value).unwrap())
            .send()
            .await
            .expect("the daemon answers");
        assert!(
            res.status().as_u16() < 500,
            "{path} answered {} to {value}",
            res.status()
        );
        cases += 1;
    }
    if !time.is_zero() {
        eprintln!("fuzz sandbox {path}: {cases} cases in {time:?}, no failure");
    }
}

#[tokio::test]
async fn sandbox_api_survives_arbitrary_bodies_and_still_answers() {
    let app = spawn_with(Options::default()).await;
    fuzz_post(&app, "/sandbox/api/messages", mutated_message()).await;
    fuzz_post(&app, "/sandbox/api/messages", any_json()).await;
    fuzz_post(&app, "/sandbox/api/explain", any_json()).await;

    // Path segments: arbitrary text where a phone number or an id goes.
    let mut runner = TestRunner::new(Config::default());
    let segment = "\\PC{0,30}";
    for _ in 0..budget().0 {
        let s = segment.new_tree(&mut runner).unwrap().current();
        let s: String = s
            .chars()
            .filter(|c| *c != '/' && *c != '?' && *c != '#')
            .collect();
        for path in [
            format!("/sandbox/api/contacts/{s}"),
            format!("/sandbox/api/contacts/{s}/messages"),
            format!("/sandbox/api/events/{s}/trace"),
        ] {
            let Ok(res) = app.http.get(format!("{}{path}", app.addr)).send().await else {
                continue; // not a valid URL at all: refused by the client, not the daemon
            };
            assert!(
                res.status().as_u16() < 500,
                "{path} answered {}",
                res.status()
            );
        }
    }

    // Still serving: a plain message gets its reply.
    let res = app
        .http
        .post(format!("{}/sandbox/api/messages", app.addr))
        .json(&json!({"from": "+34600000009", "text": "hi after fuzz"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(
        body.to_string().contains("echo: hi after fuzz"),
        "the bot still replies: {body}"
    );
    app.shutdown().await;
}
