//! Issue 58 in the flow set: the `split` step compiled and checked, and candidate versions
//! loaded beside their flows.

use crate::flows::{load_dir, LoadReport, LoadSettings, Op, Problem, Severity};
use std::time::Duration;

fn load(files: &[(&str, &str)]) -> LoadReport {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::create_dir_all(&scripts).unwrap();
    for (name, text) in files {
        std::fs::write(flows.join(name), text).unwrap();
    }
    let settings = LoadSettings {
        dir: &flows,
        scripts_dir: &scripts,
        templates: &[],
        window: Duration::from_secs(24 * 3600),
        overrides: None,
    };
    let mut report = load_dir(&settings);
    let prefix = format!("{}/", flows.display());
    for p in &mut report.problems {
        p.file = p.file.replace(&prefix, "");
    }
    report
}

fn said(report: &LoadReport, severity: Severity) -> Vec<&Problem> {
    report
        .problems
        .iter()
        .filter(|p| p.severity == severity)
        .collect()
}

const WELCOME: &str = r#"id: welcome
triggers: [{keyword: [hi]}]
steps:
  - send: "Hi!"
  - id: opening
    split:
      short: { weight: 70, then: short_greeting }
      long:
        weight: 30
        then:
          - send: "Hello and welcome! Let me tell you what I can do."
      control: { weight: 5 }
  - id: short_greeting
    send: "What can I do for you?"
"#;

#[test]
fn a_split_compiles_to_its_arms_named_by_flow_and_step() {
    let report = load(&[("welcome.yaml", WELCOME)]);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let set = report.set.unwrap();
    let flow = set.get("welcome").unwrap();
    let (at, spec) = flow
        .steps
        .iter()
        .enumerate()
        .find_map(|(i, s)| match &s.op {
            Op::Split(spec) => Some((i, spec)),
            _ => None,
        })
        .unwrap();
    assert_eq!(spec.experiment, "welcome/opening");
    let arms: Vec<(&str, u32)> = spec
        .arms
        .iter()
        .map(|a| (a.name.as_str(), a.weight))
        .collect();
    assert_eq!(arms, [("short", 70), ("long", 30), ("control", 5)]);
    assert_eq!(spec.arms[0].target, at + 1, "`then: short_greeting`");
    assert_eq!(spec.arms[2].target, at + 1, "no `then`: the next step");
    assert!(matches!(&flow.steps[spec.arms[1].target].op, Op::Send(_)));
    assert_eq!((spec.arms[1].at.line, spec.arms[1].at.column), (8, 7));
}

fn errors_of(step: &str) -> Vec<String> {
    let text = format!("id: f\nsteps:\n{step}  - send: \"after\"\n");
    let report = load(&[("f.yaml", &text)]);
    said(&report, Severity::Error)
        .iter()
        .map(|p| {
            format!(
                "{}:{} {} / {}",
                p.line,
                p.column,
                p.message,
                p.hint.clone().unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn a_split_without_id_or_with_bad_arms_is_an_error_saying_how_to_fix_it() {
    let no_id = errors_of("  - split: { a: { weight: 1 }, b: { weight: 1 } }\n");
    assert!(
        no_id[0].starts_with("3:5 a `split` needs an `id:`"),
        "{no_id:?}"
    );
    assert!(no_id[0].contains("add `id: opening`"), "{no_id:?}");

    let one = errors_of("  - id: s\n    split: { a: { weight: 1 } }\n");
    assert!(
        one[0].contains("this `split` has 1 arm; a split has 2 to 20"),
        "{one:?}"
    );
    let many: String = (0..21)
        .map(|i| format!("a{i}: {{ weight: 1 }}, "))
        .collect();
    let many = errors_of(&format!("  - id: s\n    split: {{ {many} }}\n"));
    assert!(many[0].contains("has 21 arms"), "{many:?}");

    for (weight, words) in [
        (
            "0",
            "the weight of `a` is 0; a weight is a whole number from 1 to 10000",
        ),
        ("10001", "is 10001"),
        ("half", "must be a whole number, found `half`"),
    ] {
        let e = errors_of(&format!(
            "  - id: s\n    split: {{ a: {{ weight: {weight} }}, b: {{ weight: 1 }} }}\n"
        ));
        assert!(e.iter().any(|e| e.contains(words)), "{weight}: {e:?}");
    }
    let no_weight = errors_of("  - id: s\n    split: { a: { then: [] }, b: { weight: 1 } }\n");
    assert!(
        no_weight[0].contains("the arm `a` needs a `weight:`"),
        "{no_weight:?}"
    );
    let name =
        errors_of("  - id: s\n    split: { \"two words\": { weight: 1 }, b: { weight: 1 } }\n");
    assert!(name[0].contains("must be one word"), "{name:?}");
    let key = errors_of("  - id: s\n    split: { a: { weight: 1, than: x }, b: { weight: 1 } }\n");
    assert!(key[0].contains("unknown setting `than`"), "{key:?}");
    let target =
        errors_of("  - id: s\n    split: { a: { weight: 1, then: nowhere }, b: { weight: 1 } }\n");
    assert!(
        target[0].contains("there is no step with id `nowhere`"),
        "{target:?}"
    );
}

#[test]
fn check_warns_about_arms_that_run_the_same_steps() {
    let same = r#"id: same
steps:
  - id: opening
    split:
      a: { weight: 1, then: [ { send: "Hello" } ] }
      b: { weight: 1, then: [ { send: "Hello" } ] }
  - send: "after"
"#;
    let control = r#"id: control
steps:
  - id: opening
    split:
      a: { weight: 1 }
      b: { weight: 1 }
  - send: "after"
"#;
    let differ = r#"id: differ
steps:
  - id: opening
    split:
      a: { weight: 1, then: [ { send: "Hello" } ] }
      b: { weight: 1 }
  - send: "after"
"#;
    let report = load(&[
        ("same.yaml", same),
        ("control.yaml", control),
        ("differ.yaml", differ),
    ]);
    let warnings = said(&report, Severity::Warning);
    let lines: Vec<String> = warnings
        .iter()
        .map(|p| format!("{}:{}:{} {}", p.file, p.line, p.column, p.message))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.contains(&"same.yaml:3:5 the arms `a`, `b` of split `same/opening` all run the same steps: the experiment cannot tell them apart".to_string()), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("control.yaml:3:5 the arms `a`, `b` of split `control/opening`")), "{lines:?}");
    assert!(warnings.iter().all(|p| p
        .hint
        .as_deref()
        .unwrap_or_default()
        .contains("under `then:`")));
}

const MAIN: &str = "id: welcome\ntriggers: [{keyword: [hi]}]\nsteps:\n  - send: \"Hi!\"\n";

#[test]
fn a_candidate_is_kept_beside_its_flow_with_the_main_files_triggers() {
    let v2 = "id: welcome\ncandidate: v2\ntriggers: [{keyword: [other]}]\nsteps:\n  - send: \"Hello there!\"\n";
    let report = load(&[("welcome.yaml", MAIN), ("welcome.v2.yaml", v2)]);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let set = report.set.unwrap();
    assert_eq!(set.len(), 1, "one flow");
    assert_eq!(set.get("welcome").unwrap().candidate, None);
    let c = set.candidate("welcome").unwrap();
    assert_eq!(c.candidate.as_deref(), Some("v2"));
    assert!(c.file.ends_with("welcome.v2.yaml"));
    assert_ne!(c.version, set.get("welcome").unwrap().version);
    assert_eq!(set.candidates().count(), 1);
    assert!(set.candidate("other").is_none());
}

#[test]
fn candidate_mistakes_are_errors_naming_the_files_and_a_same_candidate_a_warning() {
    let v2 = "id: welcome\ncandidate: v2\nsteps:\n  - send: \"Hello there!\"\n";
    let v3 = "id: welcome\ncandidate: v3\nsteps:\n  - send: \"Hey!\"\n";
    let report = load(&[
        ("welcome.yaml", MAIN),
        ("welcome.v2.yaml", v2),
        ("welcome.v3.yaml", v3),
    ]);
    let errors = said(&report, Severity::Error);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors.iter().all(|p| p
            .message
            .contains("flow `welcome` has two candidate versions")
            && p.message.contains("welcome.v2.yaml")
            && p.message.contains("welcome.v3.yaml")),
        "{errors:?}"
    );

    let alone = load(&[("welcome.v2.yaml", v2)]);
    let e = said(&alone, Severity::Error);
    assert!(
        e[0].message.contains("no file holds its current version"),
        "{e:?}"
    );

    let current = "id: welcome\ncandidate: current\nsteps:\n  - send: \"Hey!\"\n";
    let e = load(&[("welcome.yaml", MAIN), ("w.yaml", current)]);
    assert!(said(&e, Severity::Error)[0]
        .message
        .contains("not `current`"));

    let twice = load(&[("welcome.yaml", MAIN), ("again.yaml", MAIN)]);
    let e = said(&twice, Severity::Error);
    assert!(
        e.iter().any(|p| p.message.contains("is already used by")),
        "{e:?}"
    );

    let same =
        "id: welcome\ncandidate: v2\ntriggers: [{keyword: [hi]}]\nsteps:\n  - send: \"Hi!\"\n";
    let report = load(&[("welcome.yaml", MAIN), ("welcome.v2.yaml", same)]);
    let w = said(&report, Severity::Warning);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!((w[0].file.as_str(), w[0].line), ("welcome.v2.yaml", 1));
    assert!(
        w[0].message.contains(
            "the candidate `v2` of flow `welcome` runs the same steps as the current version"
        ),
        "{w:?}"
    );
    assert!(report.set.is_some(), "a warning only");
}

#[test]
fn a_candidate_gets_the_window_check_too() {
    let late = "id: welcome\ncandidate: v2\nsteps:\n  - delay: 30h\n  - send: \"Still there?\"\n";
    let report = load(&[("welcome.yaml", MAIN), ("welcome.v2.yaml", late)]);
    let about_v2: Vec<&Problem> = report
        .problems
        .iter()
        .filter(|p| p.file == "welcome.v2.yaml")
        .collect();
    assert_eq!(about_v2.len(), 1, "{:?}", report.problems);
    assert_eq!(about_v2[0].line, 5, "{:?}", about_v2[0]);
    assert!(about_v2[0].message.contains("window"), "{:?}", about_v2[0]);
}

#[test]
fn a_split_in_a_flow_style_file_is_named_by_its_flow_too() {
    let text = "{id: odd, steps: [{id: s, split: {a: {weight: 1, then: [{send: x}]}, b: {weight: 1}}}, {send: y}]}\n";
    let report = load(&[("odd.yaml", text)]);
    assert!(
        said(&report, Severity::Error).is_empty(),
        "{:?}",
        report.problems
    );
    let set = report.set.unwrap();
    let names: Vec<&str> = set
        .get("odd")
        .unwrap()
        .steps
        .iter()
        .filter_map(|s| match &s.op {
            Op::Split(spec) => Some(spec.experiment.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["odd/s"]);
}
