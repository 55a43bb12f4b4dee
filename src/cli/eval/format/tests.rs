//! Scenario files: a full one read into its shapes, and each kind of mistake at its line
//! and column with a hint.

use super::{parse, Known, Outcome, Problem, Wanted};
use std::collections::BTreeMap;

fn known() -> Known {
    let mut flows = BTreeMap::new();
    flows.insert(
        "support_agent".to_string(),
        vec!["never promises a refund".to_string()],
    );
    flows.insert("ping".to_string(), Vec::new());
    Known {
        models: vec!["assistant".into(), "customer".into(), "judge".into()],
        flows: Some(flows),
    }
}

const FULL: &str = r#"name: A hurried customer gets their order noted
flow: support_agent
runs: 3
contact: { phone: +34600000077, name: Ines }
customer:
  model: customer
  persona: "Ines, in a hurry"
  goal: "get order A-12345 noted"
  knows: { order_number: "A-12345" }
  language: es
  style: [short, typos]
  voice_notes: true
  opening: "question: where is my order?"
  gives_up_after: 6
judge: judge
expect:
  outcome: handed_off
  vars: { order_number: { matches: "^A-[0-9]{5}$" }, city: Madrid }
  tools_called: [save]
  tools_never_called: [handoff]
  replies: { max_length: 600, allowed_domains: [acme.example], forbid: ["guarantee"] }
  turns_at_most: 8
  cost_at_most: 0.02
  rubric:
    - asks for the order number first
"#;

#[test]
fn a_full_scenario_is_read_into_its_shapes() {
    let s = parse(FULL, &known()).unwrap();
    assert_eq!(s.name, "A hurried customer gets their order noted");
    assert_eq!(s.flow, "support_agent");
    assert_eq!(s.runs, Some(3));
    // The phone as written, not the number YAML reads in it.
    assert_eq!(s.phone, "+34600000077");
    assert_eq!(s.contact_name.as_deref(), Some("Ines"));
    assert_eq!(s.customer.model.as_deref(), Some("customer"));
    assert_eq!(s.customer.knows["order_number"], "A-12345");
    assert_eq!(s.customer.language.as_deref(), Some("es"));
    assert_eq!(s.customer.style, vec!["short", "typos"]);
    assert!(s.customer.voice_notes);
    assert_eq!(s.customer.gives_up_after, 6);
    assert_eq!(s.judge.as_deref(), Some("judge"));
    let e = &s.expect;
    assert_eq!(e.outcome, Some(Outcome::HandedOff));
    assert_eq!(
        e.vars["order_number"],
        Wanted::Matches("^A-[0-9]{5}$".into())
    );
    assert_eq!(e.vars["city"], Wanted::Exact("Madrid".into()));
    assert_eq!(e.tools_called, vec!["save"]);
    assert_eq!(e.tools_never_called, vec!["handoff"]);
    assert_eq!(e.max_length, Some(600));
    assert_eq!(e.allowed_domains, Some(vec!["acme.example".to_string()]));
    assert_eq!(e.forbid, vec!["guarantee"]);
    assert_eq!(e.turns_at_most, Some(8));
    assert_eq!(e.cost_at_most, Some(0.02));
    // The file's rubric replaces the flow's.
    assert_eq!(e.rubric, vec!["asks for the order number first"]);
}

#[test]
fn without_a_rubric_the_flows_is_judged_and_an_empty_one_judges_nothing() {
    let text = "name: n\nflow: support_agent\njudge: judge\ncustomer: { script: [hi] }\n";
    let s = parse(text, &known()).unwrap();
    assert_eq!(s.expect.rubric, vec!["never promises a refund"]);
    assert_eq!(s.customer.script, vec!["hi"]);
    assert_eq!(s.customer.gives_up_after, super::DEFAULT_GIVES_UP_AFTER);
    assert_eq!(s.runs, None);
    let none = "name: n\nflow: support_agent\ncustomer: { script: [hi] }\nexpect: { rubric: [] }\n";
    assert!(parse(none, &known()).unwrap().expect.rubric.is_empty());
}

fn problems(text: &str) -> Vec<Problem> {
    parse(text, &known()).expect_err("the file has mistakes")
}

fn one(text: &str) -> Problem {
    let mut all = problems(text);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.remove(0)
}

#[test]
fn an_unknown_setting_is_named_at_its_place_with_the_nearest_one() {
    let p = one("name: n\nflow: ping\ncustomer:\n  script: [hi]\n  persna: x\n");
    assert_eq!((p.line, p.column), (5, 3));
    assert_eq!(p.message, "`persna` is not a setting of `customer`");
    assert!(p.hint.unwrap().starts_with("did you mean `persona`?"));
}

#[test]
fn an_unknown_model_and_flow_say_which_there_are() {
    let all = problems("name: n\nflow: suport\ncustomer: { model: cusotmer }\n");
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!((all[0].line, all[0].column), (2, 7));
    assert_eq!(all[0].message, "there is no flow `suport`");
    assert!(all[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("ping, support_agent"));
    assert_eq!((all[1].line, all[1].column), (3, 20));
    assert!(all[1].message.contains("no model `cusotmer`"), "{all:#?}");
    assert!(all[1]
        .hint
        .as_deref()
        .unwrap()
        .contains("assistant, customer, judge"));
}

#[test]
fn a_rubric_without_a_judge_is_a_mistake_whichever_file_has_it() {
    let p = one("name: n\nflow: ping\ncustomer: { script: [hi] }\nexpect:\n  rubric: [be kind]\n");
    assert!(p.message.contains("a rubric needs a judge"), "{p:?}");
    assert!(p.hint.unwrap().contains("judge: MODEL"));
    let p = one("name: n\nflow: support_agent\ncustomer: { script: [hi] }\n");
    assert_eq!((p.line, p.column), (2, 7));
    assert!(
        p.message
            .contains("the flow `support_agent` has a `rubric:`"),
        "{p:?}"
    );
}

#[test]
fn wrong_types_bad_patterns_and_limits_are_each_at_their_place() {
    let text = "name: n
flow: ping
runs: 0
customer:
  script: hi
  voice_notes: maybe
expect:
  outcome: done
  vars: { order_number: { matches: \"A-(\" } }
  replies: { forbid: [\"[\"], max_length: -1 }
  cost_at_most: lots
";
    let all = problems(text);
    let at: Vec<(usize, usize)> = all.iter().map(|p| (p.line, p.column)).collect();
    assert_eq!(
        at,
        vec![
            (3, 7),
            (5, 11),
            (6, 16),
            (8, 12),
            (9, 36),
            (10, 23),
            (10, 41),
            (11, 17)
        ],
        "{all:#?}"
    );
    assert!(all[0]
        .message
        .contains("`runs` is a whole number from 1 to 100"));
    assert!(all[1].message.contains("`script` is a list"));
    assert!(all[3]
        .hint
        .as_deref()
        .unwrap()
        .contains("finished, handed_off, dropped, waiting"));
    assert!(all[4].message.contains("not a pattern"), "{:?}", all[4]);
    assert!(all[4].hint.as_deref().unwrap().contains("backslash"));
}

#[test]
fn missing_settings_and_both_a_model_and_a_script_are_mistakes() {
    let all = problems("customer: { model: customer, script: [hi] }\n");
    let messages: Vec<&str> = all.iter().map(|p| p.message.as_str()).collect();
    assert!(
        messages.contains(&"the scenario has no `name:`"),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"the scenario has no `flow:`"),
        "{messages:?}"
    );
    assert!(messages
        .iter()
        .any(|m| m.contains("a `model` or follows a `script`, not both")));
}

#[test]
fn long_texts_and_lists_are_refused() {
    let long = "x".repeat(super::MAX_TEXT + 1);
    let p = one(&format!(
        "name: {long}\nflow: ping\ncustomer: {{ script: [hi] }}\n"
    ));
    assert_eq!((p.line, p.column), (1, 7));
    assert!(p.message.contains("at most 4096"));
    let items = vec!["a"; super::MAX_LIST + 1].join(", ");
    let p = one(&format!(
        "name: n\nflow: ping\ncustomer: {{ script: [{items}] }}\n"
    ));
    assert!(p.message.contains("has 51 items; at most 50"), "{p:?}");
}

#[test]
fn broken_yaml_duplicates_and_deep_nesting_are_said_plainly() {
    let p = one("name: n\nname: m\n");
    assert_eq!((p.line, p.column), (2, 1));
    assert_eq!(p.message, "`name` is written twice (lines 1 and 2)");
    let p = one("name: \"n\nflow: ping\n");
    assert!(p.line >= 1 && p.message.contains("YAML"), "{p:?}");
    let deep = format!("name: {}{}\n", "[".repeat(200), "]".repeat(200));
    let p = one(&deep);
    assert!(p.hint.is_some(), "{p:?}");
    let p = one("- a\n- b\n");
    assert!(p.message.contains("group of settings"), "{p:?}");
}

#[test]
fn when_the_flows_did_not_load_the_flow_is_not_checked() {
    let known = Known {
        models: vec!["customer".into()],
        flows: None,
    };
    let s = parse(
        "name: n\nflow: anything\ncustomer: { model: customer }\n",
        &known,
    )
    .unwrap();
    assert_eq!(s.flow, "anything");
    assert!(s.expect.rubric.is_empty());
}

#[test]
fn problems_render_like_parley_checks() {
    let p = Problem {
        line: 3,
        column: 5,
        message: "what".into(),
        hint: Some("how".into()),
    };
    assert_eq!(
        p.render("a.eval.yaml"),
        "a.eval.yaml:3:5: error: what\n  hint: how"
    );
}
