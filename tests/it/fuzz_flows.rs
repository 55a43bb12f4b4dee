//! Property-based fuzzing of the flow loader, flow-test files, the config and templating
//! with hostile shapes (issue 13, items 2, 11, 12): random YAML-ish token soup and nesting
//! thousands of levels deep never panic or overflow a stack, always end in a flow or in
//! problems with a place, and a template `parley check` accepts never shows a customer
//! `{{`. Each target runs 300 cases by default; `PARLEY_FUZZ_SECONDS=600` runs each for
//! that long instead (as `tests/it/fuzz.rs`).

use crate::fuzz::fuzz;
use parley::cli::flowtest::format;
use parley::config::Config;
use parley::flows::{load_text, LoadSettings};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::time::Duration;

fn settings() -> LoadSettings<'static> {
    LoadSettings {
        dir: std::path::Path::new("flows"),
        scripts_dir: std::path::Path::new("scripts"),
        templates: &[],
        window: Duration::from_secs(86400),
        overrides: None,
    }
}

const TOKENS: &[&str] = &[
    "- ",
    "[",
    "]",
    "{",
    "}",
    ": ",
    "\n",
    "  ",
    "    ",
    "a",
    "'",
    "\"",
    "|",
    ">",
    "#",
    ",",
    "{{",
    "}}",
    "id: x",
    "steps:",
    "send: ",
    "ask: ",
    "goto: a",
    "if: x",
    "then:",
    "? ",
    "&a ",
    "*a",
    "!t ",
    "contact.name",
    " | upper",
    "\\",
    "é",
    "\t",
];

/// Token soup that looks enough like YAML to reach deep into the parsers.
fn yamlish() -> impl Strategy<Value = String> {
    proptest::collection::vec(0..TOKENS.len(), 0..300)
        .prop_map(|ix| ix.into_iter().map(|i| TOKENS[i]).collect())
}

/// Nesting far past the limit, in each YAML shape, behind a realistic start.
fn deep() -> impl Strategy<Value = String> {
    let unit = prop::sample::select(vec!["- ", "[", "{a: ", "[{a: ", "- a:\n", "{", "- [", "? "]);
    let prefix = prop::sample::select(vec![
        "id: x\nsteps:\n",
        "id: x\nsteps: ",
        "name: t\nsteps:\n  - customer: ",
        "flows: ",
        "",
    ]);
    (prefix, unit, 0usize..4000).prop_map(|(p, u, n)| {
        let mut s = p.to_string();
        for i in 0..n {
            s.push_str(u);
            if u.ends_with('\n') {
                s.push_str(&" ".repeat((i + 1) * 2 % 200));
            }
        }
        s
    })
}

/// Every reader of untrusted YAML, on one text: none may panic.
fn read_everything(text: &str) -> Result<(), TestCaseError> {
    let report = load_text(text, "fuzz.yaml", &settings());
    for p in &report.problems {
        prop_assert!(p.line >= 1 && p.column >= 1, "{p}");
    }
    prop_assert!(
        report.set.is_some() || report.errors() > 0,
        "no flows and no error"
    );
    let _ = format::parse(text);
    let _ = Config::from_yaml(text, "fuzz.yaml", &|_| None);
    Ok(())
}

#[test]
fn fuzz_yamlish_text_never_panics_and_ends_in_flows_or_problems() {
    fuzz("yaml-ish", yamlish(), |text| read_everything(&text));
}

#[test]
fn fuzz_deep_nesting_never_overflows_and_is_refused_past_the_limit() {
    fuzz("deep nesting", deep(), |text| {
        read_everything(&text)?;
        if let Err(r) = parley::config::file_limits::check_nesting(&text) {
            prop_assert!(r.line >= 1 && r.column >= 1);
            let report = load_text(&text, "fuzz.yaml", &settings());
            prop_assert!(report.render().contains("nested more than 64"));
        }
        Ok(())
    });
}

#[test]
fn fuzz_templates_check_accepts_never_show_braces() {
    let scope = serde_json::json!({
        "contact": {"name": "Ana"}, "vars": {"n": 3, "e": ""}, "message": {"text": "hi"}, "now": "t"
    });
    let piece = prop::sample::select(vec![
        "{{",
        "}}",
        "{",
        "}",
        " ",
        "|",
        ":",
        "\"",
        "'",
        "contact",
        "contcat",
        ".",
        "name",
        "vars",
        "n",
        "e",
        "message",
        "now",
        "upper",
        "uper",
        "default",
        "lower",
        "trim",
        "capitalize",
        "x",
        "é",
    ]);
    fuzz(
        "templates",
        proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat()),
        |template| {
            let rendered = parley::engine::render(&template, &scope);
            let flow = format!(
                "id: t\ntriggers: [{{keyword: [t]}}]\nsteps:\n  - send: |\n      {template}\n"
            );
            let report = load_text(&flow, "t.yaml", &settings());
            if report.errors() == 0 && !template.trim().is_empty() {
                prop_assert!(
                    !rendered.contains("{{"),
                    "check accepted `{template}` but it renders as `{rendered}`"
                );
            }
            Ok(())
        },
    );
}
