//! The studio's server side on a real server with the example flows: `check` answers the
//! problem `parley check` reports for a broken text and the graph of a good one; `try`
//! chats with an unsaved edit (the new text answers, the file on disk and the live daemon
//! keep the old one); `tests` runs the flow's tests against the unsaved version and says
//! where one fails; `insights` counts sandbox traffic per graph node; hostile requests
//! (a 2 MiB text, 100 messages) are refused.

use crate::helpers::*;
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

const WELCOME: &str = include_str!("../../flows/welcome.yaml");

/// `welcome` and the flows it routes to, and the tests of `welcome` and of `ping`.
fn project() -> Options {
    Options {
        flows: vec![
            ("welcome.yaml", WELCOME),
            ("welcome.es.po", include_str!("../../flows/welcome.es.po")),
            ("ping.yaml", include_str!("../../flows/ping.yaml")),
            (
                "lead_capture.yaml",
                include_str!("../../flows/lead_capture.yaml"),
            ),
            (
                "order_status.yaml",
                include_str!("../../flows/order_status.yaml"),
            ),
            (
                "human_handoff.yaml",
                include_str!("../../flows/human_handoff.yaml"),
            ),
        ],
        files: vec![
            (
                "flows/tests/welcome.test.yaml",
                include_str!("../../flows/tests/welcome.test.yaml"),
            ),
            (
                "flows/tests/welcome_timeout.test.yaml",
                include_str!("../../flows/tests/welcome_timeout.test.yaml"),
            ),
            (
                "flows/tests/ping.test.yaml",
                include_str!("../../flows/tests/ping.test.yaml"),
            ),
        ],
        ..Default::default()
    }
}

/// `welcome.yaml` with its greeting changed, not saved.
fn edited_welcome() -> String {
    let edited = WELCOME.replace("What can I do for you?", "How can I help you today?");
    assert_ne!(edited, WELCOME);
    edited
}

#[tokio::test]
async fn check_reports_what_parley_check_does_and_draws_a_good_text() {
    let app = spawn_with(project()).await;
    let broken = WELCOME.replace("    send: \"I'll be here", "    sendd: \"I'll be here");
    let (status, body) = post_json(
        &app,
        "/studio/api/check",
        json!({ "path": "flows/welcome.yaml", "text": broken }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(
        body["graph"],
        Value::Null,
        "a text with errors has no graph"
    );
    let problems = body["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{body:#}");
    let p = &problems[0];
    let shown = format!(
        "flows/welcome.yaml:{}:{}: {}: {}\n  hint: {}",
        p["line"],
        p["column"],
        p["severity"].as_str().unwrap(),
        p["message"].as_str().unwrap(),
        p["hint"].as_str().unwrap()
    );
    let checked = parley_check_on(&[("welcome.yaml", &broken)]);
    assert!(
        checked.contains(&shown),
        "`parley check` says:\n{checked}\nthe studio says:\n{shown}"
    );

    let (status, body) = post_json(
        &app,
        "/studio/api/check",
        json!({ "path": "flows/welcome.yaml", "text": WELCOME }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["problems"], json!([]));
    let graph = &body["graph"];
    assert_eq!(graph["flow"], "welcome");
    // 4 steps written in `steps:`, 3 `goto_flow` steps in the switch's cases, and the 3
    // flows they lead to.
    assert_eq!(graph["nodes"].as_array().unwrap().len(), 10, "{graph:#}");
    assert_eq!(graph["edges"].as_array().unwrap().len(), 10, "{graph:#}");
    assert_eq!(
        graph["entries"],
        json!([
            { "label": "keyword: hi, hello, hola, menu, start", "to": "#0" },
            { "label": "button: main_menu", "to": "#0" },
        ])
    );
    let edge = |from: &str, to: &str| {
        graph["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["from"] == from && e["to"] == to)
            .cloned()
            .unwrap_or_else(|| panic!("no edge {from} -> {to} in {graph:#}"))
    };
    assert_eq!(
        edge("#1", "goodbye"),
        json!({ "from": "#1", "to": "goodbye", "label": "timeout 1h", "kind": "timeout" })
    );
    assert_eq!(
        edge("#1", "#2")["label"],
        "My order / Get a quote / Talk to a person"
    );
    let first = &graph["nodes"][0];
    assert_eq!(first["id"], "#0");
    assert_eq!(first["kind"], "send");
    assert_eq!(
        (first["line"].as_u64(), first["end_line"].as_u64()),
        (Some(13), Some(18))
    );

    // A flow test file is read as `parley test` reads it.
    let (status, body) = post_json(
        &app,
        "/studio/api/check",
        json!({
            "path": "flows/tests/ping.test.yaml",
            "text": "name: ping\nsteps:\n  - customer: ping\n  - expect_reply: { text_matches: \"pong (\" }\n",
        }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let p = &body["problems"][0];
    assert_eq!(
        (p["line"].as_u64(), p["column"].as_u64()),
        (Some(4), Some(35)),
        "{body:#}"
    );
    assert!(
        p["message"].as_str().unwrap().starts_with(
            "the test file is not valid: step 2: expect_reply: `text_matches` is not a pattern Parley can read: `pong (`"
        ),
        "{body:#}"
    );

    // Not a file of the project, or outside it: refused.
    for path in ["../parley.yaml", "/etc/passwd", "parley.db"] {
        let (status, body) = post_json(
            &app,
            "/studio/api/check",
            json!({ "path": path, "text": "" }),
        )
        .await;
        assert!(status == 400 || status == 404, "{path}: {status} {body:#}");
    }
}

/// What `parley check` prints for the test's project with `flows` written over it.
fn parley_check_on(flows: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let project = project();
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    for (name, text) in project.flows.iter().copied().chain(flows.iter().copied()) {
        std::fs::write(dir.path().join("flows").join(name), text).unwrap();
    }
    let scripts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    std::fs::write(
        dir.path().join("parley.yaml"),
        format!(
            "flows: {{ dir: flows, scripts_dir: \"{}\" }}\n",
            scripts.display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_parley"))
        .current_dir(dir.path())
        .args(["check", "--config", "parley.yaml"])
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn a_try_answers_with_the_unsaved_text_and_changes_nothing() {
    let app = spawn_with(project()).await;
    let file = app.flows_dir().join("welcome.yaml");
    let (status, body) = post_json(
        &app,
        "/studio/api/try",
        json!({
            "path": "flows/welcome.yaml",
            "text": edited_welcome(),
            "messages": ["hi", "Get a quote"],
            "language": null,
        }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let turns = body["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 2, "{body:#}");
    assert_eq!(turns[0]["customer"], "hi");
    let reply = &turns[0]["replies"][0];
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("How can I help you today?"),
        "{body:#}"
    );
    assert_eq!(reply["kind"], "buttons");
    assert_eq!(
        reply["buttons"],
        json!(["My order", "Get a quote", "Talk to a person"])
    );
    assert_eq!(
        turns[0]["trace"],
        json!({ "flow": "welcome", "steps": ["#0", "#1"], "elsewhere": [] })
    );
    // The title of a button is a tap on it: the switch sends the customer to lead_capture.
    assert_eq!(
        turns[1]["replies"][0]["text"],
        "Great! What is the name of your company?"
    );
    // The switch, then the case's `goto_flow: lead_capture` (the 8th step of the program).
    assert_eq!(turns[1]["trace"]["steps"], json!(["#2", "#7"]), "{body:#}");
    assert!(
        turns[1]["trace"]["elsewhere"][0]
            .as_str()
            .unwrap()
            .starts_with("lead_capture: "),
        "{body:#}"
    );

    assert_eq!(std::fs::read_to_string(&file).unwrap(), WELCOME);
    let (status, live) = post_json(
        &app,
        "/sandbox/api/messages",
        json!({ "from": "+34600000009", "text": "hi" }),
    )
    .await;
    assert_eq!(status, 200, "{live:#}");
    let summary = live["replies"][0]["summary"].as_str().unwrap();
    assert!(summary.contains("What can I do for you?"), "{live:#}");
}

#[tokio::test]
async fn a_try_of_flows_with_errors_answers_their_problems() {
    let app = spawn_with(project()).await;
    let broken = WELCOME.replace("on_timeout: goodbye", "on_timeout: good_bye");
    let (status, body) = post_json(
        &app,
        "/studio/api/try",
        json!({ "path": "flows/welcome.yaml", "text": broken, "messages": ["hi"] }),
    )
    .await;
    assert_eq!(status, 422, "{body:#}");
    assert_eq!(body["error"], "flows_have_errors");
    let problem = &body["problems"][0];
    assert_eq!(problem["file"], "flows/welcome.yaml", "{body:#}");
    assert_eq!(problem["line"], 24, "{body:#}");
    assert_eq!(problem["hint"], "did you mean `goodbye`?");
}

#[tokio::test]
async fn the_flows_tests_run_against_the_unsaved_version() {
    let app = spawn_with(project()).await;
    let run = |text: String| {
        let app = &app;
        async move {
            let (status, body) = post_json(
                app,
                "/studio/api/tests",
                json!({ "path": "flows/welcome.yaml", "text": text }),
            )
            .await;
            assert_eq!(status, 200, "{body:#}");
            body["tests"].as_array().unwrap().clone()
        }
    };
    let tests = run(WELCOME.to_string()).await;
    let files: Vec<&str> = tests.iter().map(|t| t["file"].as_str().unwrap()).collect();
    assert_eq!(
        files,
        [
            "flows/tests/welcome.test.yaml",
            "flows/tests/welcome_timeout.test.yaml"
        ],
        "the tests named after the flow, not ping's"
    );
    for t in &tests {
        assert_eq!(t["passed"], true, "{t:#}");
        assert_eq!(t["failure"], Value::Null);
    }

    let tests = run(edited_welcome()).await;
    let failed = &tests[0];
    assert_eq!(failed["file"], "flows/tests/welcome.test.yaml");
    assert_eq!(failed["passed"], false);
    let failure = &failed["failure"];
    assert_eq!(failure["step"], 2, "{failure:#}");
    assert_eq!(failure["line"], 7, "{failure:#}");
    assert_eq!(failure["column"], 5, "{failure:#}");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("How can I help you today?"),
        "{failure:#}"
    );
    assert_eq!(
        std::fs::read_to_string(app.flows_dir().join("welcome.yaml")).unwrap(),
        WELCOME
    );
}

#[tokio::test]
async fn insights_count_sandbox_traffic_per_graph_node() {
    let app = spawn_with(project()).await;
    for phone in ["+34600000011", "+34600000012"] {
        let (status, body) = post_json(
            &app,
            "/sandbox/api/messages",
            json!({ "from": phone, "text": "hi" }),
        )
        .await;
        assert_eq!(status, 200, "{body:#}");
    }
    let steps = eventually(Duration::from_secs(20), "two entered the ask", || async {
        let (status, body) = get_json(&app, "/studio/api/insights/welcome").await;
        assert_eq!(status, 200, "{body:#}");
        (body["steps"]["#1"]["entered"] == 2).then(|| body["steps"].clone())
    })
    .await;
    assert_eq!(steps["#0"]["entered"], 2, "{steps:#}");
    assert_eq!(steps["#0"]["answered"], 2, "{steps:#}");
    assert_eq!(steps["#1"]["waiting"], 2, "{steps:#}");
    assert_eq!(steps["goodbye"]["entered"], 0, "{steps:#}");
    assert_eq!(steps["#0"]["messages"], 2, "{steps:#}");

    let (status, body) = get_json(
        &app,
        "/studio/api/insights/welcome?from=2026-02-01&to=2026-01-01",
    )
    .await;
    assert_eq!(status, 422, "{body:#}");
    let (status, _) = get_json(&app, "/studio/api/insights/nope").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn huge_texts_and_long_conversations_are_refused() {
    let app = spawn_with(project()).await;
    let huge = format!("{WELCOME}#{}\n", "x".repeat(2 * 1024 * 1024));
    for path in ["/studio/api/check", "/studio/api/try", "/studio/api/tests"] {
        let (status, body) = post_json(
            &app,
            path,
            json!({ "path": "flows/welcome.yaml", "text": huge, "messages": ["hi"] }),
        )
        .await;
        assert_eq!(status, 413, "{path}: {body:#}");
        assert!(
            body["message"].as_str().unwrap().contains("1024 KiB"),
            "{body:#}"
        );
    }
    let messages: Vec<String> = (0..100).map(|i| format!("message {i}")).collect();
    let (status, body) = post_json(
        &app,
        "/studio/api/try",
        json!({ "path": "flows/welcome.yaml", "text": WELCOME, "messages": messages }),
    )
    .await;
    assert_eq!(status, 422, "{body:#}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("100 messages is more than a try replays (50)"),
        "{body:#}"
    );
    let (status, body) = post_json(
        &app,
        "/studio/api/try",
        json!({ "path": "flows/tests/ping.test.yaml", "text": "", "messages": ["hi"] }),
    )
    .await;
    assert_eq!(status, 400, "only flows are tried: {body:#}");
}

#[tokio::test]
async fn completion_and_hover_answer_at_a_place_of_the_unsaved_text() {
    let app = spawn_with(project()).await;
    let text = WELCOME.replace("  - switch:", "  - sw");
    let line = text.lines().position(|l| l == "  - sw").unwrap() + 1;
    let (status, body) = post_json(
        &app,
        "/studio/api/complete",
        json!({ "path": "flows/welcome.yaml", "text": text, "line": line, "column": 7 }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    assert!(
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["label"] == "switch"),
        "{body:#}"
    );
    assert_eq!(body["from"]["line"], line, "{body:#}");
    let (status, body) = post_json(
        &app,
        "/studio/api/hover",
        json!({ "path": "flows/welcome.yaml", "text": WELCOME, "line": 19, "column": 6 }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    assert!(
        body["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{body:#}"
    );
    let (status, body) = post_json(
        &app,
        "/studio/api/hover",
        json!({ "path": "flows/welcome.yaml", "text": WELCOME, "line": 0, "column": 1 }),
    )
    .await;
    assert_eq!(status, 422, "{body:#}");
    assert_eq!(
        body["message"],
        "`line` counts from 1 (the first line of the file is 1)"
    );
    let (status, body) = post_json(
        &app,
        "/studio/api/complete",
        json!({ "path": "flows/welcome.yaml", "text": WELCOME, "line": 1, "column": 99_999_999 }),
    )
    .await;
    assert_eq!(status, 422, "{body:#}");
    assert_eq!(
        body["message"],
        "`column` 99999999 is past the end of any file Parley reads (at most 10000000)"
    );
}
