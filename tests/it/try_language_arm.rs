//! Issue 58: trying a flow in a chosen language and experiment arm. Through the sandbox
//! API, a customer set to Spanish gets the Spanish texts and the trace says why; a forced
//! arm is followed and the trace says so; a language or arm the flows do not have is
//! refused with a clear error and changes nothing. The studio's try takes the same
//! choices. In headless Chromium (`tests/browser/language_arm.mjs`), the sandbox page's
//! and the studio's pickers do the same (screenshots `sandbox-language-arm.png` and
//! `studio-try-language.png`, into `docs/screenshots/` with `PARLEY_UPDATE_SCREENSHOTS=1`).

use crate::helpers::{get_json as get, post_json as post, *};
use crate::sandbox_page::{browser_or_skip, screenshots_dir};
use serde_json::{json, Value};
use std::process::Command;

/// A flow in English and Spanish with a split: the short arm says one thing, the long
/// another.
const WELCOME: &str = r#"id: welcome
languages: [en, es]
translations:
  es:
    "Hi! What can I do for you?": "¡Hola! ¿En qué puedo ayudarte?"
    "Short hello": "Hola corto"
    "Hello and welcome! Let me tell you what I can do": "¡Hola y bienvenido! Te cuento lo que puedo hacer"
triggers:
  - keyword: [hi, hola]
steps:
  - send: "Hi! What can I do for you?"
  - id: opening
    split:
      short:
        weight: 50
        then:
          - send: "Short hello"
      long:
        weight: 50
        then:
          - send: "Hello and welcome! Let me tell you what I can do"
"#;

const SPANISH: &str = "language es (Español): the contact's language field";
const ENGLISH: &str =
    "language en (English): the flow's base language (the contact has no language)";
const FORCED_LONG: &str =
    "split welcome/opening: arm long, forced by the contact's experiment_arms field";
const FORCED_SHORT: &str =
    "split welcome/opening: arm short, forced by the contact's experiment_arms field";

fn project() -> Options {
    Options {
        flows: vec![("welcome.yaml", WELCOME)],
        ..Default::default()
    }
}

/// The customer says `text`; answers the replies' summaries and the trace's decisions.
async fn say(app: &TestApp, phone: &str, text: &str) -> (Vec<String>, Vec<String>) {
    let (status, body) = post(
        app,
        "/sandbox/api/messages",
        json!({ "from": phone, "text": text }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let replies = body["replies"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter_map(|r| r["summary"].as_str().map(str::to_string))
        .collect();
    (replies, strings(&body["trace"]["trace"]["decisions"]))
}

#[tokio::test]
async fn the_flows_list_their_languages_and_experiments() {
    let app = spawn_with(project()).await;
    let (status, flows) = get(&app, "/sandbox/api/flows").await;
    assert_eq!(status, 200, "{flows:#}");
    let welcome = &flows["flows"][0];
    assert_eq!(
        welcome["languages"],
        json!([{ "code": "en", "name": "English" }, { "code": "es", "name": "Español" }])
    );
    assert_eq!(
        welcome["experiments"],
        json!([{
            "experiment": "welcome/opening", "flow": "welcome", "kind": "split",
            "arms": [{ "name": "short", "weight": 50 }, { "name": "long", "weight": 50 }],
        }])
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_customer_set_to_spanish_with_a_forced_arm_gets_both_and_the_trace_says_why() {
    let app = spawn_with(project()).await;
    let (status, customer) = post(
        &app,
        "/sandbox/api/customers",
        json!({ "language": "es", "arms": { "welcome/opening": "long" } }),
    )
    .await;
    assert_eq!(status, 200, "{customer:#}");
    assert_eq!(customer["language"], "es");
    assert_eq!(customer["arms"], json!({ "welcome/opening": "long" }));
    let phone = customer["phone"].as_str().unwrap().to_string();

    let (replies, decisions) = say(&app, &phone, "hola").await;
    assert_eq!(
        replies,
        [
            "¡Hola! ¿En qué puedo ayudarte?",
            "¡Hola y bienvenido! Te cuento lo que puedo hacer"
        ],
        "{decisions:#?}"
    );
    assert!(decisions.iter().any(|d| d == SPANISH), "{decisions:#?}");
    assert!(decisions.iter().any(|d| d == FORCED_LONG), "{decisions:#?}");

    // Changed later: no language (the base), the short arm forced.
    let (status, changed) = post(
        &app,
        "/sandbox/api/customers",
        json!({ "phone": phone, "arms": { "welcome/opening": "short" } }),
    )
    .await;
    assert_eq!(status, 200, "{changed:#}");
    assert_eq!(changed["phone"], phone.as_str());
    assert_eq!(changed["language"], Value::Null);
    let (replies, decisions) = say(&app, &phone, "hi").await;
    assert_eq!(
        replies,
        ["Hi! What can I do for you?", "Short hello"],
        "{decisions:#?}"
    );
    assert!(decisions.iter().any(|d| d == ENGLISH), "{decisions:#?}");
    assert!(
        decisions.iter().any(|d| d == FORCED_SHORT),
        "{decisions:#?}"
    );

    // The contact holds what was chosen.
    let (status, contact) = get(&app, &format!("/sandbox/api/contacts/{phone}")).await;
    assert_eq!(status, 200, "{contact:#}");
    assert_eq!(
        contact["attributes"]["experiment_arms"]["welcome/opening"],
        "short"
    );
    assert!(
        contact["attributes"].get("language").is_none(),
        "{contact:#}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_language_or_arm_the_flows_do_not_have_is_refused_and_changes_nothing() {
    let app = spawn_with(project()).await;
    let phone = "+34600000077";
    let (status, body) = post(
        &app,
        "/sandbox/api/customers",
        json!({ "phone": phone, "language": "es", "arms": { "welcome/opening": "long" } }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let many: serde_json::Map<String, Value> = (0..65)
        .map(|i| (format!("welcome/s{i}"), json!("a")))
        .collect();
    let refusals = [
        (
            json!({ "phone": phone, "language": "fr" }),
            "language `fr` is not one the flows speak; choose one of en (English), es (Español)",
        ),
        (
            json!({ "phone": phone, "language": "es", "arms": { "welcome/nope": "long" } }),
            "arms: there is no experiment `welcome/nope`; the flows have welcome/opening",
        ),
        (
            json!({ "phone": phone, "language": "es", "arms": { "welcome/opening": "medium" } }),
            "arms: experiment `welcome/opening` has no arm `medium`; choose one of short, long",
        ),
        (
            json!({ "phone": phone, "language": "x".repeat(10_000) }),
            "is not one the flows speak",
        ),
        (
            json!({ "phone": phone, "arms": many }),
            "arms: 65 experiments is more than a customer may have forced (64)",
        ),
        (
            json!({ "phone": phone, "language": "es", "colour": "red" }),
            "unknown field `colour`",
        ),
        (
            json!({ "phone": "nobody", "language": "es" }),
            "`nobody` is not a phone number",
        ),
    ];
    for (body, says) in refusals {
        let (status, answer) = post(&app, "/sandbox/api/customers", body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer:#}");
        assert_eq!(answer["error"], "bad_request", "{answer:#}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
        assert!(message.chars().count() < 400, "bounded: {message}");
    }
    // Nothing changed: still Spanish, still the long arm.
    let (replies, decisions) = say(&app, phone, "hi").await;
    assert_eq!(
        replies[0], "¡Hola! ¿En qué puedo ayudarte?",
        "{decisions:#?}"
    );
    assert!(decisions.iter().any(|d| d == SPANISH), "{decisions:#?}");
    assert!(decisions.iter().any(|d| d == FORCED_LONG), "{decisions:#?}");
    app.shutdown().await;
}

#[tokio::test]
async fn the_studio_try_takes_a_language_and_an_arm() {
    let app = spawn_with(project()).await;
    // The unsaved text, with a new translation, is what answers.
    let edited = WELCOME.replace("\"Hola corto\"", "\"Hola, versión nueva\"");
    assert_ne!(edited, WELCOME);
    let (status, body) = post(
        &app,
        "/studio/api/try",
        json!({
            "path": "flows/welcome.yaml",
            "text": edited,
            "messages": ["hi"],
            "language": "es",
            "arms": { "welcome/opening": "short" },
        }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let turn = &body["turns"][0];
    assert_eq!(
        turn["replies"][0]["text"], "¡Hola! ¿En qué puedo ayudarte?",
        "{body:#}"
    );
    assert_eq!(
        turn["replies"][1]["text"], "Hola, versión nueva",
        "{body:#}"
    );
    let decisions = turn["decisions"].as_array().unwrap();
    assert!(decisions.iter().any(|d| d == SPANISH), "{body:#}");
    assert!(decisions.iter().any(|d| d == FORCED_SHORT), "{body:#}");

    // With no messages, only what may be chosen, from the unsaved text.
    let (status, body) = post(
        &app,
        "/studio/api/try",
        json!({ "path": "flows/welcome.yaml", "text": WELCOME, "messages": [] }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["turns"], json!([]));
    assert_eq!(
        body["offer"]["languages"][1],
        json!({ "code": "es", "name": "Español" })
    );
    assert_eq!(
        body["offer"]["experiments"][0]["experiment"],
        "welcome/opening"
    );

    for (choice, field, says) in [
        (
            json!({ "language": "hi" }),
            "language",
            "language `hi` is not one the flows speak",
        ),
        (
            json!({ "arms": { "welcome/opening": "tall" } }),
            "arms",
            "has no arm `tall`; choose one of short, long",
        ),
        (
            json!({ "arms": ["short"] }),
            "arms",
            "`arms` must be an object",
        ),
    ] {
        let mut request =
            json!({ "path": "flows/welcome.yaml", "text": WELCOME, "messages": ["hi"] });
        for (k, v) in choice.as_object().unwrap() {
            request[k] = v.clone();
        }
        let (status, body) = post(&app, "/studio/api/try", request).await;
        assert_eq!(status, 422, "{choice}: {body:#}");
        assert_eq!(body["error"], "validation_error", "{body:#}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(field), "names the field: {message}");
        assert!(body["message"].as_str().unwrap().contains(says), "{body:#}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_sandbox_page_and_the_studio_try_a_language_and_an_arm_in_a_real_browser() {
    if !browser_or_skip("skipping the browser language and arm test") {
        return;
    }
    let app = spawn_with(project()).await;
    let shots = screenshots_dir(true);
    std::fs::create_dir_all(&shots).unwrap();
    let names = ["sandbox-language-arm.png", "studio-try-language.png"];
    for name in names {
        let _ = std::fs::remove_file(shots.join(name));
    }
    let args = vec![app.addr.clone(), shots.display().to_string()];
    crate::browser::run_node("language_arm.mjs", args).await;
    for name in names {
        let shot = shots.join(name);
        assert!(shot.exists(), "{} is missing", shot.display());
        eprintln!("screenshot: {}", shot.display());
    }
    app.shutdown().await;
}

/// `parley simulate` with the example project (whose welcome speaks English and Spanish).
fn simulate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("simulate")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("PARLEY_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("parley runs")
}

#[test]
fn parley_simulate_takes_a_language_and_refuses_what_the_flows_do_not_have() {
    let out = simulate(&["--from", "+34600000001", "--language", "es", "hola"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("The customer speaks Español (es)."), "{text}");
    assert!(text.contains("¿En qué puedo ayudarte?"), "{text}");
    for (args, says) in [
        (
            vec!["--language", "fr"],
            "language `fr` is not one the flows speak; choose one of",
        ),
        (
            vec!["--arm", "welcome/opening=long"],
            "arms: there is no experiment `welcome/opening`",
        ),
        (
            vec!["--arm", "welcome"],
            "write the experiment, `=` and the arm",
        ),
    ] {
        let mut all = vec!["--from", "+34600000001"];
        all.extend(args);
        all.push("hi");
        let out = simulate(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{all:?}");
        assert!(err.contains(says), "{all:?}: {err}");
    }
}

#[tokio::test]
async fn a_candidate_version_is_an_experiment_to_force() {
    let candidate = WELCOME
        .replace("id: welcome\n", "id: welcome\ncandidate: v2\n")
        .replace("Short hello", "Short hello, version two");
    let app = spawn_with(Options {
        flows: vec![
            ("welcome.yaml", WELCOME),
            ("welcome.v2.yaml", Box::leak(candidate.into_boxed_str())),
        ],
        ..Default::default()
    })
    .await;
    let (_, flows) = get(&app, "/sandbox/api/flows").await;
    let experiments = &flows["flows"][0]["experiments"];
    assert_eq!(
        experiments[1],
        json!({
            "experiment": "welcome@version", "flow": "welcome", "kind": "version",
            "arms": [{ "name": "current" }, { "name": "v2" }],
        }),
        "{flows:#}"
    );
    let (status, customer) = post(
        &app,
        "/sandbox/api/customers",
        json!({ "arms": { "welcome@version": "v2", "welcome/opening": "short" } }),
    )
    .await;
    assert_eq!(status, 200, "{customer:#}");
    let phone = customer["phone"].as_str().unwrap().to_string();
    let (replies, decisions) = say(&app, &phone, "hi").await;
    assert_eq!(
        replies,
        ["Hi! What can I do for you?", "Short hello, version two"],
        "{decisions:#?}"
    );
    assert!(
        decisions.iter().any(|d| {
            d
            == "flow welcome: version v2 (candidate), forced by the contact's experiment_arms field"
        }),
        "{decisions:#?}"
    );
    app.shutdown().await;
}
