//! The drawing of small flows: each kind of edge, entries, unreachable steps and steps
//! that can send free-form after the window has closed.

use super::*;
use crate::config::{TemplateConfig, TemplateStatus};
use crate::flows::{load_text, LoadSettings};
use std::path::Path;

/// `text` loaded as it is (with a window long enough that no late message is an error)
/// and drawn with WhatsApp's window.
fn drawn(text: &str) -> Drawing {
    let templates = vec![TemplateConfig {
        id: 1,
        name: "nudge".into(),
        language: "en".into(),
        status: TemplateStatus::Approved,
        body: "Still there?".into(),
        buttons: vec![],
        twilio_content_sid: None,
        category: Some(crate::domain::TemplateCategory::Utility),
    }];
    let settings = LoadSettings {
        dir: Path::new("flows"),
        scripts_dir: Path::new("scripts"),
        templates: &templates,
        window: WINDOW * 30,
        overrides: None,
    };
    let report = load_text(text, "flows/t.yaml", &settings);
    let rendered = report.render();
    let set = report.set.unwrap_or_else(|| panic!("{rendered}"));
    let flow = set.flows().first().expect("one flow").clone();
    draw(&flow)
}

/// `from -> to (kind: label)` for every edge, to compare whole.
fn arrows(d: &Drawing) -> Vec<String> {
    d.edges
        .iter()
        .map(|e| format!("{} -> {} ({:?}: {})", e.from, e.to, e.kind, e.label))
        .collect()
}

fn node<'a>(d: &'a Drawing, id: &str) -> &'a Node {
    d.nodes
        .iter()
        .find(|n| n.id == id)
        .unwrap_or_else(|| panic!("no node {id} in {:?}", d.nodes))
}

#[test]
fn steps_are_nodes_named_by_id_or_place_with_their_lines() {
    let d = drawn(
        "id: t\ntriggers:\n  - keyword: [hi, hello]\n  - button: main_menu\nsteps:\n  - send: \"Hello\n      there\"\n\n  # a comment\n  - id: ask_name\n    ask:\n      text: What is your name?\n      save_as: name\n  - send: \"Bye {{ vars.name }}\"\n",
    );
    assert_eq!(d.flow, "t");
    let ids: Vec<&str> = d.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["#0", "ask_name", "#2"]);
    let first = node(&d, "#0");
    assert_eq!(
        (first.label.as_str(), first.kind.as_str()),
        ("send: Hello there", "send")
    );
    assert_eq!((first.line, first.column, first.end_line), (6, 5, 7));
    let ask = node(&d, "ask_name");
    assert_eq!(ask.label, "ask: What is your name?");
    assert_eq!((ask.line, ask.end_line), (10, 13));
    assert_eq!((node(&d, "#2").line, node(&d, "#2").end_line), (14, 14));
    assert_eq!(
        arrows(&d),
        [
            "#0 -> ask_name (Next: next)",
            "ask_name -> #2 (Answer: answer)"
        ]
    );
    let entries: Vec<(&str, &str)> = d
        .entries
        .iter()
        .map(|e| (e.label.as_str(), e.to.as_str()))
        .collect();
    assert_eq!(
        entries,
        [("keyword: hi, hello", "#0"), ("button: main_menu", "#0")]
    );
    assert!(d
        .nodes
        .iter()
        .all(|n| !n.unreachable && !n.free_form_after_window));
}

#[test]
fn branches_gotos_and_answers_are_labelled_edges() {
    let d = drawn(
        "id: t\nsteps:\n  - send:\n      text: Pick\n      buttons:\n        - { id: y, title: Yes }\n        - { id: n, title: No }\n  - id: pick\n    ask:\n      save_as: pick\n      expect: button\n      timeout: 2h\n      on_timeout: end_here\n      retries: 1\n      on_invalid: late\n  - if: vars.pick == \"y\"\n    then:\n      - send: Great\n    else: late\n  - switch:\n      on: vars.pick\n      cases:\n        y: { goto_flow: t }\n      default: end_here\n  - id: late\n    send: Too late\n  - goto: pick\n  - id: end_here\n    end: {}\n",
    );
    let arrows = arrows(&d);
    for want in [
        "#0 -> pick (Next: next)",
        "pick -> #2 (Answer: Yes / No)",
        "pick -> late (Invalid: invalid)",
        "pick -> end_here (Timeout: timeout 2h)",
        "#2 -> #8 (Branch: then)",
        "#2 -> late (Branch: else)",
        "#8 -> #3 (Next: next)",
        "#3 -> #10 (Branch: y)",
        "#3 -> end_here (Branch: default)",
        "#10 -> flow:t (Goto: goto_flow)",
        "late -> #5 (Next: next)",
        "#5 -> pick (Goto: goto)",
    ] {
        assert!(
            arrows.contains(&want.to_string()),
            "{want} not in {arrows:#?}"
        );
    }
    assert_eq!(arrows.len(), 12, "{arrows:#?}");
    assert_eq!(node(&d, "flow:t").kind, "flow");
    assert_eq!(node(&d, "#8").label, "send: Great");
    assert_eq!(node(&d, "#5").label, "goto: pick");
}

#[test]
fn errors_windows_and_agent_tools_are_edges() {
    let d = drawn(
        "id: t\nsteps:\n  - http:\n      url: https://example.com/x\n      on_error: oops\n  - script:\n      code: \"let x = 1;\"\n      on_error: oops\n  - send:\n      text: Hello\n      if_window_closed: { template: nudge }\n  - id: oops\n    send: Sorry\n",
    );
    let arrows = arrows(&d);
    for want in [
        "#0 -> oops (Error: on_error)",
        "#1 -> oops (Error: on_error)",
        "#2 -> #2~window (Window: window closed)",
    ] {
        assert!(
            arrows.contains(&want.to_string()),
            "{want} not in {arrows:#?}"
        );
    }
    assert_eq!(node(&d, "#2~window").label, "template: nudge");
    assert_eq!(node(&d, "#2~window").kind, "template");
}

#[test]
fn steps_no_path_reaches_are_marked_unreachable() {
    let d = drawn("id: t\nsteps:\n  - send: one\n  - end: {}\n  - send: never\n  - handoff: {}\n  - send: after\n");
    assert!(!node(&d, "#0").unreachable);
    assert!(!node(&d, "#1").unreachable);
    assert!(node(&d, "#2").unreachable);
    assert!(node(&d, "#3").unreachable);
    assert!(node(&d, "#4").unreachable);
}

#[test]
fn messages_that_can_leave_after_the_window_are_marked() {
    let d = drawn(
        "id: t\ntriggers:\n  - keyword: [hi]\nsteps:\n  - send: Hello\n  - delay: 25h\n  - send: Late hello\n  - send:\n      text: Late but covered\n      if_window_closed: skip\n",
    );
    let late: Vec<(&str, bool)> = d
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n.free_form_after_window))
        .collect();
    assert_eq!(
        late,
        [("#0", false), ("#1", false), ("#2", true), ("#3", false)]
    );
    assert!(arrows(&d).contains(&"#1 -> #2 (Next: after 25h)".to_string()));
}

#[test]
fn an_agents_tools_errors_and_window_template_are_edges() {
    let d = drawn(
        "id: t\nsteps:\n  - id: chat\n    agent:\n      model: m\n      instructions: Help with orders\n      tools:\n        handoff: { timeout: 4h }\n        goto_flow: [t]\n        end: true\n      on_error: { goto: human }\n      on_budget: { goto: human }\n      if_window_closed: { template: nudge }\n  - send: Bye\n  - end: {}\n  - id: human\n    handoff: { timeout: 4h }\n",
    );
    let arrows = arrows(&d);
    assert_eq!(
        arrows,
        [
            "chat -> chat~window (Window: window closed)",
            "chat -> #1 (Tool: tool: end)",
            "chat -> flow:t (Tool: tool: goto_flow)",
            "chat -> ~person (Tool: tool: handoff)",
            "chat -> human (Error: on_error)",
            "chat -> human (Error: on_budget)",
            "#1 -> #2 (Next: next)",
        ]
    );
    assert_eq!(node(&d, "chat").label, "agent: Help with orders (m)");
    assert_eq!(node(&d, "~person").kind, "person");
}

#[test]
fn triggers_and_the_schedule_are_entries_into_the_first_step() {
    let d = drawn(
        "id: t\ntriggers:\n  - keyword: [agent]\n    interrupt: true\n  - window_closing: 1h\nschedule:\n  cron: \"0 18 * * *\"\nsteps:\n  - id: hello\n    send:\n      text: Hi\n      if_window_closed: skip\n",
    );
    let entries: Vec<(&str, &str)> = d
        .entries
        .iter()
        .map(|e| (e.label.as_str(), e.to.as_str()))
        .collect();
    assert_eq!(
        entries,
        [
            ("keyword: agent (interrupts)", "hello"),
            ("window closing: 1h before", "hello"),
            ("schedule: 0 18 * * *", "hello"),
        ]
    );
}
