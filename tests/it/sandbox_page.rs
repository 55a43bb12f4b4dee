//! The `/sandbox` page in a real headless Chromium (Debian's `chromium`, driven by
//! playwright-core from `tests/browser/`): open the page, type `hi`, tap a reply button,
//! see the bot's answer and the trace, attach a photo and see it from the media store;
//! and the send kinds of issue 16 ("typing…", a reaction, a location request).
//! The `/insights` page draws each flow's funnel from known traffic (`insights.mjs`). The
//! screenshots are kept in the target folder; with `PARLEY_UPDATE_SCREENSHOTS=1`, the
//! README's (`sandbox.png` with `sandbox-handoff.png`, `insights.png`) go to
//! `docs/screenshots/`. `.ci/run` installs Chromium and playwright-core; elsewhere the
//! test is skipped when they are missing.

use crate::helpers::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const WELCOME: &str = include_str!("../../flows/welcome.yaml");
const LEAD: &str = include_str!("../../flows/lead_capture.yaml");
const ORDER: &str = include_str!("../../flows/order_status.yaml");
const HANDOFF: &str = include_str!("../../flows/human_handoff.yaml");

fn browser_ready(dir: &Path) -> Result<(), String> {
    let chromium = std::env::var("PARLEY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Err(format!("{chromium} is missing (apt-get install chromium)"));
    }
    if !dir.join("node_modules/playwright-core").exists() {
        return Err("playwright-core is missing (npm install in tests/browser)".into());
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Err("node is missing".into());
    }
    Ok(())
}

/// Whether the browser test can run; where it cannot, says why and that `what` is skipped
/// (and fails in CI, where `.ci/run` installs the browser).
pub(crate) fn browser_or_skip(what: &str) -> bool {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    match browser_ready(&dir) {
        Ok(()) => true,
        Err(why) => {
            assert!(
                std::env::var("CI").is_err(),
                "the browser test must run in CI: {why}"
            );
            eprintln!("{what}: {why}");
            false
        }
    }
}

/// Where the screenshots of the README go: `docs/screenshots/` when
/// `PARLEY_UPDATE_SCREENSHOTS=1` (to commit them), else the target folder.
pub(crate) fn screenshots_dir(for_readme: bool) -> std::path::PathBuf {
    if for_readme && std::env::var("PARLEY_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).to_path_buf()
    }
}

/// Runs `script` from `tests/browser/` against `app`; the screenshot goes to `shot`.
async fn run_browser_script(app: &TestApp, script: &'static str, shot: &str) {
    let screenshot = screenshots_dir(matches!(shot, "sandbox.png" | "insights.png")).join(shot);
    let _ = std::fs::remove_file(&screenshot);
    let args = vec![app.addr.clone(), screenshot.display().to_string()];
    crate::browser::run_node(script, args).await;
    assert!(screenshot.exists());
    eprintln!("screenshot: {}", screenshot.display());
}

const BOOKING: &str = r#"id: booking
triggers:
  - keyword: [book]
steps:
  - form:
      flow_id: "1197715005513101"
      text: "Book a visit"
      cta: Book now
      screen: APPOINTMENT
      save_as: booking
      fields:
        - { name: date, label: Date, type: date, required: true }
        - { name: people, label: People, type: number, required: true }
  - send: "See you on {{ vars.booking.date }}, {{ vars.booking.people }} of you"
"#;

#[tokio::test]
async fn the_sandbox_page_renders_a_form_and_submits_it_in_a_real_browser() {
    if !browser_or_skip("skipping the browser form test") {
        return;
    }
    let app = spawn_with(Options {
        flows: vec![("booking.yaml", BOOKING)],
        // Forms cannot go out through Twilio: the test config's Twilio line becomes a
        // sandbox line.
        config_edits: vec![
            ("    channel: twilio\n", "    channel: sandbox\n"),
            ("    twilio: { account_sid", "    # twilio: { account_sid"),
        ],
        ..Default::default()
    })
    .await;
    run_browser_script(&app, "form.mjs", "sandbox-form.png").await;
    app.shutdown().await;
}

#[tokio::test]
async fn the_sandbox_page_chats_in_a_real_browser() {
    if !browser_or_skip("skipping the browser test") {
        return;
    }
    // The customer's photo goes to a folder of this test's.
    let media = tempfile::tempdir().unwrap();
    let app = spawn_with(Options {
        flows: vec![
            ("welcome.yaml", WELCOME),
            ("lead_capture.yaml", LEAD),
            ("order_status.yaml", ORDER),
            ("human_handoff.yaml", HANDOFF),
        ],
        extra_yaml: format!(
            "media: {{ dir: \"{}\", poll_interval: 50ms }}\n",
            media.path().display()
        ),
        ..Default::default()
    })
    .await;
    run_browser_script(&app, "sandbox.mjs", "sandbox.png").await;
    app.shutdown().await;
}

const DELIVERY: &str = r#"id: delivery
triggers: [{ keyword: [deliver] }]
steps:
  - send: { react: "👍" }
  - send: { location_request: "Where shall we deliver?" }
"#;

const DELIVERING: &str = r#"id: delivering
triggers: [{ type: location }]
steps:
  - send: "Delivering to {{ message.name }}"
"#;

#[tokio::test]
async fn the_sandbox_page_shows_typing_reactions_and_location_requests() {
    if !browser_or_skip("skipping the browser test") {
        return;
    }
    let slow = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({ "state": "packed" }))
                .set_delay(Duration::from_millis(2_500)),
        )
        .mount(&slow)
        .await;
    let order = format!(
        "id: order\ntyping: true\ntriggers: [{{ keyword: [order] }}]\nsteps:\n  - http: {{ method: GET, url: \"{}/o\", save_as: r }}\n  - send: \"Your order is {{{{ vars.r.body.state }}}}\"\n",
        slow.uri()
    );
    let app = spawn_with(Options {
        flows: vec![
            ("order.yaml", Box::leak(order.into_boxed_str())),
            ("delivery.yaml", DELIVERY),
            ("delivering.yaml", DELIVERING),
        ],
        config_edits: vec![(
            "flows: { dir: ",
            "flows: { allow_private_networks: true, dir: ",
        )],
        ..Default::default()
    })
    .await;
    run_browser_script(&app, "send_kinds.mjs", "sandbox-send-kinds.png").await;
    app.shutdown().await;
}

const SUPPORT_AGENT: &str = r#"id: support_agent
triggers: [{ keyword: [question] }]
steps:
  - agent:
      model: assistant
      instructions: "You answer questions about Acme orders."
      scope: "orders at Acme"
      tools:
        save:
          order_number: { expect: regex, pattern: "^A-[0-9]{5}$" }
        handoff: true
        end: true
      if_window_closed: skip
"#;

#[tokio::test]
async fn the_sandbox_page_shows_an_agent_steps_model_calls() {
    // The example project's scripted model: no network, no key.
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/assistant.yaml");
    let app = spawn_with(Options {
        flows: vec![("support_agent.yaml", SUPPORT_AGENT)],
        extra_yaml: format!(
            "models:\n  - {{ name: assistant, kind: scripted, script: \"{}\" }}\n",
            rules.display()
        ),
        ..Default::default()
    })
    .await;
    // What the page draws: the trace's model calls, tokens and tool verdicts.
    let (status, body) = post_json(
        &app,
        "/sandbox/api/messages",
        serde_json::json!({ "from": "+34600000021", "text": "question: my order is A-12345" }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let calls = &body["trace"]["trace"]["exchanges"];
    assert_eq!(calls.as_array().map(Vec::len), Some(2), "{body:#}");
    assert_eq!(calls[0]["model"], "assistant");
    assert_eq!(
        calls[0]["tool_calls"][0],
        r#"save {"order_number":"A-12345"}: accepted"#
    );
    assert!(calls[0]["input_tokens"].as_u64() > Some(0), "{calls:#}");
    assert!(calls[0]["system"]
        .as_str()
        .is_some_and(|s| s.contains("one task only: orders at Acme")));
    if browser_or_skip("skipping the browser agent test") {
        run_browser_script(&app, "agent.mjs", "sandbox-agent.png").await;
    }
    app.shutdown().await;
}

const SURVEY: &str = r#"id: survey
triggers: [{ keyword: [survey] }]
steps:
  - send: "Welcome"
  - ask: { text: "Your name?", expect: text, save_as: name, timeout: 1h }
  - ask: { text: "How many?", expect: number, save_as: n, timeout: 3h }
  - send: "Thanks {{ vars.name }}"
"#;

#[tokio::test]
async fn the_insights_page_draws_each_flows_funnel_in_a_real_browser() {
    if !browser_or_skip("skipping the browser insights test") {
        return;
    }
    let app = spawn_with(Options {
        flows: vec![
            ("survey.yaml", SURVEY),
            (
                "idle.yaml",
                "id: idle\ntriggers: [{ keyword: [idle] }]\nsteps:\n  - send: \"x\"\n",
            ),
        ],
        ..Default::default()
    })
    .await;
    // 5 customers start the survey, 3 give their name, 1 a number.
    let say = |i: usize, text: &'static str| {
        let app = &app;
        async move {
            let (status, body) = post_json(
                app,
                "/sandbox/api/messages",
                serde_json::json!({ "from": format!("+346000012{i:02}"), "text": text, "sender_id": 3 }),
            )
            .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    for i in 0..5 {
        say(i, "survey").await;
    }
    for i in 0..3 {
        say(i, "Ana").await;
    }
    say(0, "2").await;
    run_browser_script(&app, "insights.mjs", "insights.png").await;
    app.shutdown().await;
}
