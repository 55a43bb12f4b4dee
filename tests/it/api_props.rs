//! Property: no malformed request gets a 5xx, every answer is JSON, and a refused request
//! changes nothing stored. Bodies are generated per POST route from its field names with
//! values of random types and lengths (and raw bytes that are not JSON at all), with
//! random path parameters.

use crate::api::{customer_writes, spawn_api, CUSTOMER, KEY};
use crate::helpers::TestApp;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value};

const ROUTES: &[(&str, &[&str])] = &[
    (
        "/api/user/whatsapp/send-freeform",
        &["sender_id", "recipient_phone", "message"],
    ),
    (
        "/api/user/whatsapp/send",
        &[
            "sender_id",
            "template_id",
            "recipient_phone",
            "recipient_name",
            "variables",
        ],
    ),
    (
        "/api/v1/messages/send-message",
        &[
            "contact_phone",
            "contact_name",
            "message_type",
            "message",
            "media_url",
            "caption",
            "filename",
            "waba_phone_id",
            "buttons",
        ],
    ),
    (
        "/api/conversations/{id}/messages",
        &[
            "type",
            "text",
            "media_url",
            "caption",
            "filename",
            "location",
            "message_id",
            "emoji",
        ],
    ),
    ("/api/conversations/{id}/release", &[]),
    ("/api/senders/{id}/health", &["test_phone", "test_message"]),
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        prop_oneof![
            Just(1i64),
            Just(3),
            Just(45),
            Just(46),
            Just(47),
            Just(0),
            Just(-1)
        ]
        .prop_map(Value::from),
        prop_oneof![
            Just("text"),
            Just("image"),
            Just("document"),
            Just("location"),
            Just("reply"),
            Just("cta_url"),
            Just("16315551181"),
            Just("+16315551181"),
            Just("+12"),
            Just(""),
            Just("https://127.0.0.1:9/a.png"),
            Just("ftp://x"),
            Just("\u{0}"),
            Just("ü🙂"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
        "[ -~]{0,40}".prop_map(Value::String),
        (0usize..6000).prop_map(|n| Value::String("x".repeat(n))),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_string()),
                    Just("title".to_string()),
                    Just("type".to_string()),
                    Just("latitude".to_string()),
                    Just("longitude".to_string()),
                    Just("url".to_string()),
                    Just("display_text".to_string()),
                    Just("reply_buttons".to_string()),
                    Just("url_button".to_string()),
                    "[a-z0-9]{1,6}"
                ],
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Body {
    Json(Value),
    Raw(Vec<u8>),
}

fn request() -> impl Strategy<Value = (usize, String, Body)> {
    (0..ROUTES.len()).prop_flat_map(|route| {
        let fields = ROUTES[route].1;
        let object = prop::collection::vec(
            (
                prop::sample::select(if fields.is_empty() {
                    &["x"][..]
                } else {
                    fields
                }),
                value(),
            ),
            0..8,
        )
        .prop_map(|pairs| {
            Body::Json(Value::Object(
                pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            ))
        });
        let body = prop_oneof![
            6 => object,
            1 => value().prop_map(Body::Json),
            1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Body::Raw),
        ];
        let param = prop_oneof![
            Just("1".to_string()),
            Just("3".to_string()),
            "[0-9]{1,20}",
            "-?[0-9a-zA-Z%._~-]{1,12}"
        ];
        (Just(route), param, body)
    })
}

async fn counts(app: &TestApp) -> (usize, usize) {
    let conversations = app
        .store
        .conversations_page(None, None, 10_000)
        .await
        .unwrap();
    let mut outbound = 0;
    for c in &conversations {
        outbound += app
            .store
            .conversation_outbound(c.conversation.id, None, 10_000)
            .await
            .unwrap()
            .len();
    }
    (conversations.len(), outbound)
}

#[test]
fn malformed_requests_never_get_a_5xx_nor_change_what_is_stored() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(async {
        let app = spawn_api().await;
        customer_writes(&app, CUSTOMER, 10).await;
        app
    });
    let stored = std::cell::Cell::new(rt.block_on(counts(&app)));
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&request(), |(route, param, body)| {
        let path = ROUTES[route].0.replace("{id}", &param);
        let (status, text) = rt.block_on(async {
            let req = app
                .http
                .post(format!("{}{path}", app.addr))
                .bearer_auth(KEY)
                .header("content-type", "application/json");
            let req = match &body {
                Body::Json(v) => req.body(serde_json::to_vec(v).unwrap()),
                Body::Raw(b) => req.body(b.clone()),
            };
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        });
        prop_assert!(status < 500, "{path} {body:?} got {status}: {text}");
        prop_assert!(
            serde_json::from_str::<Value>(&text).is_ok(),
            "{path} answered {status} with a body that is not JSON: {text}"
        );
        let now = rt.block_on(counts(&app));
        if status >= 400 {
            prop_assert_eq!(
                now,
                stored.get(),
                "{} {:?} was refused with {} but changed what is stored",
                path,
                body,
                status
            );
        }
        stored.set(now);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
