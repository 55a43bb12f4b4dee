//! The `form` step as `parley check` reads it: a good one compiles to what the engine
//! sends, and each mistake is named at its line and column.

use super::*;
use crate::domain::{FieldKind, FlowRef, FormAction};
use std::time::Duration;

fn load(text: &str, deployment: Option<&Deployment>) -> (LoadReport, String) {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::write(flows.join("booking.yaml"), text).unwrap();
    let settings = LoadSettings {
        dir: &flows,
        scripts_dir: &dir.path().join("scripts"),
        templates: &[],
        window: Duration::from_secs(24 * 3600),
        overrides: None,
    };
    let report = load_dir_with(&settings, deployment);
    let rendered = report
        .render()
        .replace(&format!("{}/", dir.path().display()), "");
    (report, rendered)
}

const GOOD: &str = r#"id: booking
triggers:
  - keyword: [book]
steps:
  - form:
      flow_id: "1197715005513101"
      text: "Book a visit, {{ contact.name }}"
      cta: Book now
      screen: APPOINTMENT
      data: { customer_name: "{{ contact.name }}", max_people: 6 }
      save_as: booking
      fields:
        - { name: date, label: Date, type: date, required: true }
        - { name: people, type: number, required: true }
        - { name: menu, type: choice, options: [veg, meat] }
      timeout: 1h
      on_timeout: nudge
  - send: "See you on {{ vars.booking.date }}"
  - end: {}
  - id: nudge
    send: "Still want to book? Write BOOK any time."
"#;

#[test]
fn a_form_step_compiles_to_the_flow_message_and_its_wait() {
    let (report, rendered) = load(GOOD, None);
    assert!(report.problems.is_empty(), "{rendered}");
    let set = report.set.unwrap();
    let flow = set.get("booking").unwrap();
    let Op::Form(form) = &flow.steps[0].op else {
        panic!("not a form: {:?}", flow.steps[0].op)
    };
    let ContentSpec::Form(message) = &form.message.content else {
        panic!("not form content")
    };
    assert_eq!(message.flow, FlowRef::Id("1197715005513101".into()));
    assert_eq!(message.cta, "Book now");
    match &message.action {
        FormAction::Navigate { screen, data } => {
            assert_eq!(screen, "APPOINTMENT");
            assert_eq!(data.as_ref().unwrap()["max_people"], 6);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(form.save_as.as_deref(), Some("booking"));
    assert_eq!(form.fields.len(), 3);
    assert_eq!(form.fields[1].kind, FieldKind::Number);
    assert_eq!(form.timeout, Some(Duration::from_secs(3600)));
    assert_eq!(form.on_timeout, flow.step_index("nudge"));
}

#[test]
fn check_names_each_form_mistake_at_its_place() {
    let text = r#"id: booking
steps:
  - form:
      flow_id: "1"
      flow_name: booking
      text: Book
      cta: Book now
      screen: A
      save_as: b
  - form:
      flow_id: "1"
      text: Book
      cta: "Book a table for the whole family now"
      screen: "not a screen"
      save_as: b
  - form:
      flow_id: "1"
      text: Book
      cta: "Book 📅"
      action: data_exchange
      screen: A
      save_as: b
  - form:
      flow_id: "1"
      cta: Book
      screen: A
  - form:
      flow_id: "1"
      text: Book
      cta: Book
      screen: A
      fields:
        - { name: people, type: numbr }
  - form:
      flow_id: "1"
      text: Book
      cta: Book
      screen: A
      save_as: b
      on_timeout: later
      fields:
        - { name: menu, type: choice }
        - { name: menu }
  - form:
      text: Book
      cta: Book
      screen: A
      save_as: b
  - id: later
    send: hi
"#;
    let (report, rendered) = load(text, None);
    assert!(report.set.is_none());
    insta::assert_snapshot!(rendered);
}

#[test]
fn check_names_address_question_mistakes() {
    let text = r#"id: booking
steps:
  - ask: { text: Where?, expect: address, save_as: a, country: FR }
  - ask: { text: Name?, save_as: n, country: IN }
  - ask: { expect: address, save_as: a }
"#;
    let (report, rendered) = load(text, None);
    assert!(report.set.is_none());
    insta::assert_snapshot!(rendered);
}

#[test]
fn check_refuses_forms_when_a_twilio_sender_would_send_them() {
    let twilio = Deployment {
        sender_ids: vec![1, 2],
        allow_private_networks: false,
        twilio_sender_ids: vec![2],
        model_names: Vec::new(),
        unpriced_models: Vec::new(),
        embedding_models: Vec::new(),
    };
    let (report, rendered) = load(GOOD, Some(&twilio));
    assert!(report.set.is_none());
    assert!(
        rendered.contains(
            "booking.yaml:6:7: error: a `form` cannot reach customers of the Twilio sender 2"
        ),
        "{rendered}"
    );
    let meta_only = Deployment {
        twilio_sender_ids: vec![],
        ..twilio
    };
    let (report, rendered) = load(GOOD, Some(&meta_only));
    assert!(report.problems.is_empty(), "{rendered}");
}

#[test]
fn a_form_after_a_long_wait_needs_a_window_fallback() {
    let text = r#"id: late
steps:
  - delay: 30h
  - form: { flow_id: "1", text: Book, cta: Book, screen: A, save_as: b }
"#;
    let (_, rendered) = load(text, None);
    assert!(
        rendered.contains("late.yaml:4:5: error: this message can be sent 30h or more")
            || rendered.contains("booking.yaml:4:5: error: this message can be sent 30h or more"),
        "{rendered}"
    );
    let fixed = text.replace("save_as: b }", "save_as: b, if_window_closed: skip }");
    let (report, rendered) = load(&fixed, None);
    assert!(report.problems.is_empty(), "{rendered}");
}

/// An empty `text` or `flow_id` is an error (WhatsApp refuses the message), and naming
/// both `flow_id` and `flow_name` no longer hides the step's other mistakes.
#[test]
fn empty_texts_and_ids_are_errors_and_one_mistake_hides_no_other() {
    let flow = |form: &str| {
        format!("id: f\ntriggers: [{{keyword: [f]}}]\nsteps:\n  - form: {{ {form} }}\n")
    };
    let (_, out) = load(&flow(r#"flow_id: "123", text: "  ", cta: Book"#), None);
    assert!(out.contains("the form's `text` is empty"), "{out}");
    let (_, out) = load(&flow(r#"flow_id: "  ", text: Hi, cta: Book"#), None);
    assert!(out.contains("`flow_id` is empty"), "{out}");
    let (_, out) = load(
        &flow(&format!(
            r#"flow_id: "123", flow_name: x, text: Hi, cta: "{}""#,
            "b".repeat(43)
        )),
        None,
    );
    assert!(out.contains("not both"), "{out}");
    assert!(out.contains("cta"), "{out}");
}
