//! Property-based fuzzing of everything that reads untrusted input: Meta and Twilio webhook
//! parsing, flow loading, text templating and phone numbers. None may panic, whatever the
//! input. Each target runs 300 cases by default; `PARLEY_FUZZ_SECONDS=600` runs each for
//! that long instead (the long run reported in the README).

use parley::channels::{meta, twilio};
use parley::domain::PhoneNumber;
use parley::flows::{load_text, LoadSettings};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::time::{Duration, Instant};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Runs `test` on values from `strategy` for the configured time or case count.
pub(crate) fn fuzz<S: Strategy>(
    name: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let seconds: u64 = std::env::var("PARLEY_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut cases = 0u64;
    loop {
        let mut runner = TestRunner::new(Config {
            cases: 300,
            failure_persistence: None,
            ..Config::default()
        });
        if let Err(e) = runner.run(&strategy, &test) {
            panic!("{name}: {e}");
        }
        cases += 300;
        if Instant::now() >= deadline {
            break;
        }
    }
    if seconds > 0 {
        eprintln!("fuzz {name}: {cases} cases in {seconds}s, no failure");
    }
}

pub(crate) fn meta_fixtures() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("{FIXTURES}/meta")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            out.push(std::fs::read(path).unwrap());
        }
    }
    out
}

/// Random edits of real payloads: bytes replaced, cut, or JSON values swapped.
pub(crate) fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    (
        0..n,
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        any::<usize>(),
        any::<bool>(),
    )
        .prop_map(move |(i, edits, cut, do_cut)| {
            let mut bytes = seeds[i].clone();
            for (pos, b) in edits {
                if !bytes.is_empty() {
                    let p = pos % bytes.len();
                    bytes[p] = b;
                }
            }
            if do_cut && !bytes.is_empty() {
                bytes.truncate(cut % bytes.len());
            }
            bytes
        })
}

/// Structurally valid Meta envelopes with arbitrary JSON in the message.
fn meta_envelope() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,20}".prop_map(serde_json::Value::from),
    ];
    let json = leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::hash_map("(type|text|body|id|from|timestamp|interactive|button_reply|image|errors|code|status)", inner, 0..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    json.prop_map(|message| {
        serde_json::to_vec(&serde_json::json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"phone_number_id": "106540352242922"},
                "messages": [message.clone()], "statuses": [message]
            }}]}]
        }))
        .unwrap()
    })
}

#[test]
fn fuzz_meta_webhook_parsing_never_panics() {
    fuzz("meta mutated fixtures", mutated(meta_fixtures()), |body| {
        let _ = meta::webhook::parse(&body);
        Ok(())
    });
    fuzz("meta envelopes", meta_envelope(), |body| {
        let _ = meta::webhook::parse(&body);
        Ok(())
    });
}

#[test]
fn fuzz_twilio_webhook_parsing_never_panics() {
    let mut seeds = Vec::new();
    for entry in std::fs::read_dir(format!("{FIXTURES}/twilio")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txt") && !path.ends_with("signature.txt") {
            seeds.push(std::fs::read(path).unwrap());
        }
    }
    fuzz("twilio mutated fixtures", mutated(seeds), |body| {
        if let Ok(params) = twilio::webhook::parse_form(&body) {
            let _ = twilio::webhook::parse(&params);
        }
        Ok(())
    });
    let param = ("(From|To|Body|MessageSid|SmsMessageSid|NumMedia|MediaUrl0|MediaContentType0|MessageType|Latitude|Longitude|ButtonPayload|ButtonText|MessageStatus|ErrorCode|SmsStatus)", ".{0,30}");
    fuzz(
        "twilio params",
        proptest::collection::vec(param, 0..12),
        |params| {
            let params: Vec<(String, String)> = params.into_iter().collect();
            let _ = twilio::webhook::parse(&params);
            Ok(())
        },
    );
}

#[test]
fn fuzz_flow_loading_never_panics() {
    let examples: Vec<Vec<u8>> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/flows"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            p.extension()
                .is_some_and(|x| x == "yaml")
                .then(|| std::fs::read(p).unwrap())
        })
        .collect();
    let settings = LoadSettings {
        dir: std::path::Path::new("flows"),
        scripts_dir: std::path::Path::new("scripts"),
        templates: &[],
        window: Duration::from_secs(86400),
        overrides: None,
    };
    fuzz("flow files", mutated(examples), |bytes| {
        let text = String::from_utf8_lossy(&bytes);
        let report = load_text(&text, "fuzz.yaml", &settings);
        for p in &report.problems {
            prop_assert!(p.line >= 1 && p.column >= 1, "{p}");
        }
        Ok(())
    });
    fuzz("flow-like text", "(id: [a-z]{1,5}\n)?(triggers:\n  - (keyword|regex|button|type|fallback): .{0,12}\n)?(steps:\n(  - (send|ask|if|switch|set|script|goto|delay|tag|end): .{0,16}\n){0,4})?", |text| {
        let _ = load_text(&text, "fuzz.yaml", &settings);
        Ok(())
    });
}

#[test]
fn fuzz_templating_never_panics() {
    let scope = serde_json::json!({"contact": {"name": "Ana", "tags": ["a"]}, "vars": {"n": 3, "o": {"x": [1, 2]}}, "message": {"text": "hi"}});
    fuzz(
        "templates",
        "(.{0,6}(\\{\\{|\\}\\}|\\||:|\\.|\"|default|upper)){0,8}",
        |template| {
            let _ = parley::engine::render(&template, &scope);
            Ok(())
        },
    );
}

#[test]
fn fuzz_phone_numbers_parse_or_refuse_without_panicking() {
    fuzz("phones", "(whatsapp:)?\\+?[0-9 ()\\-.a-z]{0,24}", |input| {
        if let Ok(p) = PhoneNumber::parse(&input) {
            prop_assert!(p.as_e164().starts_with('+'));
            prop_assert_eq!(PhoneNumber::parse(p.as_e164()).unwrap(), p.clone());
            prop_assert!((8..=15).contains(&p.digits().len()));
        }
        Ok(())
    });
    fuzz("any string", ".{0,40}", |input| {
        let _ = PhoneNumber::parse(&input);
        Ok(())
    });
}
