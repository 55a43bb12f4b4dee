//! `parley check` output for every kind of problem, and trigger matching with its
//! precedence, through real flow files.

use super::*;
use crate::config::{TemplateConfig, TemplateStatus};
use crate::domain::{InboundContent, Referral};
use std::time::Duration;

fn templates() -> Vec<TemplateConfig> {
    vec![
        TemplateConfig {
            id: 45,
            name: "menu_reminder".into(),
            language: "en".into(),
            status: TemplateStatus::Approved,
            body: "Hi {{1}}, reply MENU to continue.".into(),
            buttons: vec![],
            twilio_content_sid: None,
            category: Some(crate::domain::TemplateCategory::Utility),
        },
        TemplateConfig {
            id: 46,
            name: "promo".into(),
            language: "en".into(),
            status: TemplateStatus::Pending,
            body: "New offers!".into(),
            buttons: vec![],
            twilio_content_sid: None,
            category: Some(crate::domain::TemplateCategory::Marketing),
        },
        TemplateConfig {
            id: 47,
            name: "spring_sale".into(),
            language: "en".into(),
            status: TemplateStatus::Approved,
            body: "20% off this week".into(),
            buttons: vec![],
            twilio_content_sid: None,
            category: None,
        },
    ]
}

/// Loads `files` from a fresh `flows/` folder; returns the report.
fn load(files: &[(&str, &str)]) -> (LoadReport, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    for (name, text) in files {
        let path = flows.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    std::fs::write(dir.path().join("scripts/broken.rhai"), "let x = ;\n").unwrap();
    let templates = templates();
    let report = load_dir(&LoadSettings {
        dir: &flows,
        scripts_dir: &dir.path().join("scripts"),
        templates: &templates,
        window: Duration::from_secs(24 * 3600),
        overrides: None,
    });
    (report, dir)
}

/// What `parley check` prints, with the temporary folder shown as `flows/`.
fn check(files: &[(&str, &str)]) -> String {
    let (report, dir) = load(files);
    report
        .render()
        .replace(&format!("{}/", dir.path().display()), "")
}

#[test]
fn the_minimal_ping_flow_works_exactly_as_written() {
    let (report, _d) = load(&[("ping.yaml", "id: ping\ntriggers:\n  - keyword: [ping]\nsteps:\n  - send:\n      text: \"pong {{ contact.name }}\"\n")]);
    assert!(report.problems.is_empty(), "{}", report.render());
    let set = report.set.unwrap();
    let m = set
        .best_match(&MatchInput {
            content: &InboundContent::Text {
                body: "Ping!".into(),
            },
            referral: None,
            new_contact: false,
            waiting: false,
        })
        .unwrap();
    assert_eq!(m.flow.id, "ping");
}

#[test]
fn check_reports_unknown_steps_and_settings_with_a_suggestion() {
    insta::assert_snapshot!(check(&[("a.yaml", "id: a\ntriggers:\n  - keyword: [hi]\n    intterupt: true\nsteps:\n  - sned: \"hello\"\n  - send: { text: hi, colour: red }\n")]));
}

#[test]
fn check_reports_missing_goto_targets_and_duplicate_step_ids() {
    insta::assert_snapshot!(check(&[(
        "a.yaml",
        "id: a\nsteps:\n  - id: start\n    send: one\n  - id: start\n    send: two\n  - goto: strat\n  - goto_flow: nowhere\n"
    )]));
}

#[test]
fn check_warns_about_unreachable_steps() {
    insta::assert_snapshot!(check(&[(
        "a.yaml",
        "id: a\nsteps:\n  - send: one\n  - end: {}\n  - send: never\n"
    )]));
}

#[test]
fn check_reports_duplicate_flow_ids_and_keyword_conflicts() {
    insta::assert_snapshot!(check(&[
        (
            "a.yaml",
            "id: same\ntriggers: [{keyword: [menu]}]\nsteps: [{send: a}]\n"
        ),
        ("b.yaml", "id: same\nsteps: [{send: b}]\n"),
        (
            "c.yaml",
            "id: c\ntriggers: [{keyword: [Menú]}]\nsteps: [{send: c}]\n"
        ),
        (
            "d.yaml",
            "id: d\npriority: 5\ntriggers: [{keyword: [menu]}]\nsteps: [{send: d}]\n"
        ),
    ]));
}

#[test]
fn check_reports_bad_regexes() {
    insta::assert_snapshot!(check(&[(
        "a.yaml",
        "id: a\ntriggers:\n  - regex: 'order (\\d+'\nsteps: [{send: a}]\n"
    )]));
}

#[test]
fn check_reports_rhai_syntax_errors_at_their_line_in_the_yaml_file() {
    insta::assert_snapshot!(check(&[(
        "a.yaml",
        "id: a\nsteps:\n  - script: |\n      let total = 1;\n      total = total +* 2;\n  - if: \"vars.x >\"\n    then: [{send: yes}]\n  - script: { file: broken.rhai }\n"
    )]));
}

#[test]
fn check_reports_messages_over_whatsapp_limits() {
    let long = "x".repeat(4100);
    let flow = format!(
        "id: a\nsteps:\n  - send: \"{long}\"\n  - send:\n      text: Pick one\n      buttons: [One, Two, Three, Four]\n  - send:\n      text: Pick\n      buttons: [\"A title that is far too long\", Same, same]\n  - send: {{ image: photo.png, caption: hi }}\n"
    );
    insta::assert_snapshot!(check(&[("a.yaml", flow.as_str())]));
}

#[test]
fn check_reports_templates_not_declared_not_approved_or_with_wrong_variables() {
    insta::assert_snapshot!(check(&[(
        "a.yaml",
        "id: a\nsteps:\n  - send: { template: menu_remindr }\n  - send: { template: promo }\n  - send: { template: menu_reminder, variables: { \"2\": x } }\n"
    )]));
}

#[test]
fn check_warns_where_a_flow_sends_a_template_without_a_category() {
    let out = check(&[(
        "sale.yaml",
        "id: sale\ntriggers: [{keyword: [sale]}]\nsteps:\n  - send: Hello\n  - send: { template: spring_sale }\n  - send: { template: menu_reminder, variables: { \"1\": x } }\n",
    )]);
    assert!(out.contains("sale.yaml:5:"), "{out}");
    assert!(
        out.contains("warning: the template `spring_sale` has no category in the config"),
        "{out}"
    );
    assert!(out.contains("hint: add `category: marketing`"), "{out}");
    assert_eq!(out.matches("has no category").count(), 1, "{out}");
}

#[test]
fn check_reports_free_form_sends_after_the_window_without_a_fallback() {
    insta::assert_snapshot!(check(&[(
        "a.yaml",
        "id: a\ntriggers: [{keyword: [cart]}]\nsteps:\n  - send: Thanks!\n  - delay: 25h\n  - send: Still interested?\n  - delay: 1h\n  - send:\n      text: Last call\n      if_window_closed: { template: menu_reminder, variables: { \"1\": \"{{ contact.name }}\" } }\n  - ask: { text: Anything else?, save_as: more, timeout: 30h, on_timeout: bye }\n  - send: Noted\n  - id: bye\n    send: Bye\n"
    )]));
}

#[test]
fn check_reports_broken_yaml_with_its_position() {
    insta::assert_snapshot!(check(&[(
        "a.yaml",
        "id: a\nsteps:\n  - send: \"unclosed\n  - send: b\n"
    )]));
}

#[test]
fn check_explains_settings_written_beside_their_step_instead_of_under_it() {
    insta::assert_snapshot!(check(&[(
        "a.yaml",
        "id: a\nsteps:\n  - send:\n    text: Hello\n    buttons: [Yes, No]\n  - ask:\n      save_as: name\n    text: What is your name?\n  - set:\n    greeted: \"yes\"\n  - http:\n    url: https://example.com/orders\n  - send:\n    colour: red\n  - send:\n"
    )]));
}

#[test]
fn compiled_steps_remember_the_step_of_the_file_they_come_from() {
    let (report, _d) = load(&[(
        "a.yaml",
        "id: a\nsteps:\n  - send: Hi\n  - ask: { save_as: choice }\n  - switch:\n      on: vars.choice\n      cases:\n        one: { send: One }\n        two:\n          - send: Two\n          - goto: bye\n  - id: bye\n    send: Bye\n",
    )]);
    assert!(report.errors() == 0, "{}", report.render());
    let set = report.set.unwrap();
    let flow = set.get("a").unwrap();
    assert_eq!(flow.steps.len(), 10, "the program has the added jumps");
    assert_eq!(flow.written_steps(), 4, "the file has four steps");
    let places: Vec<String> = flow
        .steps
        .iter()
        .filter(|s| s.origin != Origin::Added)
        .map(Step::place)
        .collect();
    assert_eq!(
        places,
        vec![
            "step 1 (line 3)",
            "step 2 (line 4)",
            "step 3 (line 5)",
            "step 4 (line 12)",
            "line 8 (inside step 3)",
            "line 10 (inside step 3)",
            "line 11 (inside step 3)",
        ]
    );
}

#[test]
fn check_says_which_line_is_out_of_step_when_the_yaml_breaks() {
    insta::assert_snapshot!(check(&[
        (
            "a_beside.yaml",
            "id: a\nsteps:\n  - send:\n      text: Hello\n     buttons: [Yes, No]\n",
        ),
        (
            "b_after_a_value.yaml",
            "id: b\nsteps:\n  - send: Hello\n      buttons: [Yes, No]\n",
        ),
        (
            "c_list_item.yaml",
            "id: c\nsteps:\n  - send: one\n   - send: two\n",
        ),
        (
            "d_trigger.yaml",
            "id: d\ntriggers:\n  - keyword: [hi]\n  interrupt: true\nsteps:\n  - send: hi\n",
        ),
        ("e_tab.yaml", "id: e\nsteps:\n\t- send: hi\n"),
    ]));
}

fn text(s: &str) -> InboundContent {
    InboundContent::Text { body: s.into() }
}

fn winner(
    set: &FlowSet,
    content: &InboundContent,
    new_contact: bool,
    waiting: bool,
    referral: Option<&Referral>,
) -> Option<String> {
    set.best_match(&MatchInput {
        content,
        referral,
        new_contact,
        waiting,
    })
    .map(|m| m.flow.id.clone())
}

#[test]
fn every_trigger_kind_matches_and_precedence_is_as_documented() {
    let (report, _d) = load(&[
        ("01_button.yaml", "id: by_button\ntriggers: [{button: main_menu}, {quick_reply: CONFIRM_APPT_4821}]\nsteps: [{send: b}]\n"),
        ("02_whole.yaml", "id: whole\ntriggers: [{keyword: [order status], match: whole}]\nsteps: [{send: w}]\n"),
        ("03_first.yaml", "id: first\ntriggers: [{keyword: [order, menu]}]\nsteps: [{send: f}]\n"),
        ("04_regex.yaml", "id: regex\ntriggers: [{regex: '#(?P<order_id>\\d{4})'}]\nsteps: [{send: r}]\n"),
        ("05_contains.yaml", "id: contains\ntriggers: [{keyword: [refund], match: contains}]\nsteps: [{send: c}]\n"),
        ("06_type.yaml", "id: photo\ntriggers: [{type: [image, document]}]\nsteps: [{send: t}]\n"),
        ("07_new.yaml", "id: welcome\ntriggers: [{new_contact: true}]\nsteps: [{send: n}]\n"),
        ("08_fallback.yaml", "id: fallback\ntriggers: [{fallback: true}]\nsteps: [{send: x}]\n"),
        ("09_ad.yaml", "id: ad\ntriggers: [{referral: '120208899'}]\nsteps: [{send: a}]\n"),
        ("10_stop.yaml", "id: stop\npriority: 10\ntriggers: [{keyword: [stop], interrupt: true}]\nsteps: [{send: s}]\n"),
    ]);
    assert!(report.errors() == 0, "{}", report.render());
    let set = report.set.unwrap();
    let tap = InboundContent::ButtonReply {
        id: "main_menu".into(),
        title: "Menu".into(),
    };
    assert_eq!(
        winner(&set, &tap, false, false, None).as_deref(),
        Some("by_button")
    );
    let qr = InboundContent::QuickReply {
        payload: "CONFIRM_APPT_4821".into(),
        text: "Confirm".into(),
    };
    assert_eq!(
        winner(&set, &qr, false, false, None).as_deref(),
        Some("by_button")
    );
    assert_eq!(
        winner(&set, &text("Order status?"), false, false, None).as_deref(),
        Some("whole")
    );
    assert_eq!(
        winner(&set, &text("order #4821 please"), false, false, None).as_deref(),
        Some("first")
    );
    assert_eq!(
        winner(&set, &text("where is #4821"), false, false, None).as_deref(),
        Some("regex")
    );
    let m = set
        .best_match(&MatchInput {
            content: &text("where is #4821"),
            referral: None,
            new_contact: false,
            waiting: false,
        })
        .unwrap();
    assert_eq!(
        m.captures,
        vec![("order_id".to_string(), "4821".to_string())]
    );
    assert_eq!(
        winner(&set, &text("I want a REFUND now"), false, false, None).as_deref(),
        Some("contains")
    );
    assert_eq!(
        winner(&set, &text("refunds are nice"), false, false, None).as_deref(),
        Some("fallback"),
        "contains matches whole words"
    );
    let img = InboundContent::Media {
        media: crate::domain::MediaKind::Image,
        media_id: None,
        url: None,
        mime_type: None,
        sha256: None,
        caption: None,
        filename: None,
        voice: false,
    };
    assert_eq!(
        winner(&set, &img, false, false, None).as_deref(),
        Some("photo")
    );
    assert_eq!(
        winner(&set, &text("good morning"), true, false, None).as_deref(),
        Some("welcome")
    );
    assert_eq!(
        winner(&set, &text("good morning"), false, false, None).as_deref(),
        Some("fallback")
    );
    let ad = Referral {
        source_url: None,
        source_id: Some("120208899".into()),
        source_type: Some("ad".into()),
        headline: None,
        body: None,
        ctwa_clid: None,
    };
    assert_eq!(
        winner(&set, &text("menu"), false, false, Some(&ad)).as_deref(),
        Some("ad"),
        "the ad wins over a keyword"
    );
    assert_eq!(
        winner(&set, &text("Menú!"), false, false, None).as_deref(),
        Some("first"),
        "accents and punctuation fold"
    );
    // While waiting for an answer only interrupting triggers count.
    assert_eq!(winner(&set, &text("menu"), false, true, None), None);
    assert_eq!(
        winner(&set, &text("STOP"), false, true, None).as_deref(),
        Some("stop")
    );
}

#[test]
fn higher_priority_beats_a_more_specific_trigger() {
    let (report, _d) = load(&[
        ("a.yaml", "id: specific\ntriggers: [{keyword: [help], match: whole}]\nsteps: [{send: a}]\n"),
        ("b.yaml", "id: urgent\npriority: 5\ntriggers: [{keyword: [help], match: contains}]\nsteps: [{send: b}]\n"),
    ]);
    let set = report.set.unwrap();
    assert_eq!(
        winner(&set, &text("help"), false, false, None).as_deref(),
        Some("urgent")
    );
}

#[test]
fn matching_ten_thousand_flows_stays_fast() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..10_000 {
        std::fs::write(
            dir.path().join(format!("f{i:05}.yaml")),
            format!("id: f{i}\ntriggers: [{{keyword: [kw{i}, 'word{i} alpha']}}, {{keyword: [needle{i}], match: contains}}]\nsteps: [{{send: \"r{i}\"}}]\n"),
        )
        .unwrap();
    }
    let report = load_dir(&LoadSettings {
        dir: dir.path(),
        scripts_dir: dir.path(),
        templates: &[],
        window: Duration::from_secs(86400),
        overrides: None,
    });
    let set = report.set.expect("10,000 flows load");
    let messages: Vec<InboundContent> = (0..2000)
        .map(|i| {
            text(&format!(
                "kw{} and some more words needle{}",
                i * 5 % 10_000,
                i
            ))
        })
        .collect();
    let start = std::time::Instant::now();
    for m in &messages {
        assert!(set
            .best_match(&MatchInput {
                content: m,
                referral: None,
                new_contact: false,
                waiting: false
            })
            .is_some());
    }
    let per_message = start.elapsed() / messages.len() as u32;
    // Generous bound for a debug build on a loaded CI machine; the release benchmark in the
    // README measures the real figure.
    assert!(
        per_message < Duration::from_millis(2),
        "{per_message:?} per message"
    );
}

#[test]
fn events_start_only_flows_that_name_them_never_the_fallback() {
    use crate::domain::{CallDirection, CallEvent, CallPhase};
    let (report, _d) = load(&[
        (
            "01_welcome.yaml",
            "id: hello\ntriggers: [{welcome: true}]\nsteps: [{send: w}]\n",
        ),
        (
            "02_missed.yaml",
            "id: missed\ntriggers: [{call: terminate}]\nsteps: [{send: m}]\n",
        ),
        (
            "03_any_call.yaml",
            "id: any_call\npriority: -1\ntriggers: [{call: true}]\nsteps: [{send: c}]\n",
        ),
        (
            "04_new.yaml",
            "id: new\ntriggers: [{new_contact: true}]\nsteps: [{send: n}]\n",
        ),
        (
            "05_fallback.yaml",
            "id: fallback\ntriggers: [{fallback: true}]\nsteps: [{send: x}]\n",
        ),
    ]);
    assert!(report.errors() == 0, "{}", report.render());
    let set = report.set.unwrap();
    let removed = InboundContent::Reaction {
        message_id: "wamid.1".into(),
        emoji: None,
    };
    assert_eq!(winner(&set, &removed, true, false, None), None);
    assert_eq!(
        winner(&set, &InboundContent::RequestWelcome, true, false, None).as_deref(),
        Some("hello")
    );
    let call = |event| {
        InboundContent::Call(CallEvent {
            call_id: "wacid.1".into(),
            event,
            direction: CallDirection::UserInitiated,
            status: None,
            duration_seconds: None,
            start_time: None,
            end_time: None,
        })
    };
    assert_eq!(
        winner(&set, &call(CallPhase::Terminate), true, false, None).as_deref(),
        Some("missed")
    );
    assert_eq!(
        winner(&set, &call(CallPhase::Connect), true, false, None).as_deref(),
        Some("any_call")
    );
    // A customer's words still reach the new-contact flow and the fallback.
    assert_eq!(
        winner(&set, &text("hey"), true, false, None).as_deref(),
        Some("new")
    );
    assert_eq!(
        winner(&set, &text("hey"), false, false, None).as_deref(),
        Some("fallback")
    );
}
