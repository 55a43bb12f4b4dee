//! `parley eval` through the real binary (issue 59; the README's "Evaluating agents"): the
//! example project's evals pass offline with their scripted customer and judge, and fail —
//! naming the failing check, showing the transcript and the judge's reason — when the
//! support flow loses its `save` or `handoff` tool or its model promises a refund; the
//! exit code follows `--min-pass`; `--junit` writes a suite per scenario; a scenario file
//! with mistakes is reported at its line and column and nothing runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `parley ARGS` in `dir`, with the embedded default config (its paths relative to `dir`).
fn parley_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(args)
        .current_dir(dir)
        .env_remove("PARLEY_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .expect("parley runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The example project (flows, evals, knowledge, scripts, models) copied to a folder of
/// its own, without recordings, so a test may break it.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["flows", "knowledge", "scripts", "models"] {
        copy_dir(&root().join(sub), &dir.path().join(sub));
    }
    for entry in std::fs::read_dir(dir.path().join("flows/evals")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".exchanges.yaml") {
            std::fs::remove_file(path).unwrap();
        }
    }
    dir
}

/// Replaces `old` (which must be there) with `new` in the project's file `rel`.
fn edit(dir: &Path, rel: &str, old: &str, new: &str) {
    let path = dir.join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(old), "{rel} has no {old:?}");
    std::fs::write(&path, text.replacen(old, new, 1)).unwrap();
}

/// The part of the report about the scenario named `name` (up to the next empty line).
fn section<'a>(report: &'a str, name: &str) -> &'a str {
    let start = report
        .find(name)
        .unwrap_or_else(|| panic!("no {name} in\n{report}"));
    let rest = &report[start..];
    &rest[..rest.find("\n\n").unwrap_or(rest.len())]
}

#[test]
fn the_example_evals_pass_offline_with_rates_per_check_and_the_cost_of_each_role() {
    let out = parley_in(root(), &["eval"]);
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    let order = section(&report, "A hurried customer gets their order noted");
    assert!(
        order.contains("(flows/evals/order_noted.eval.yaml) — 5/5 runs passed (100 %)"),
        "{order}"
    );
    for check in [
        "outcome",
        "vars: order_number",
        "tools_called: save",
        "tools_never_called: handoff",
        "replies: max_length",
        "replies: allowed_domains",
        "cost_at_most",
        "rubric: never promises a refund, a discount or a delivery date",
    ] {
        assert!(
            order.contains(&format!("    ✓ {check}: 5/5 (100 %)\n")),
            "{check}: {order}"
        );
    }
    // Each role's model use, summed and per run: the scripted models count tokens too.
    for role in ["agent   ", "customer", "judge   "] {
        let line = order
            .lines()
            .find(|l| l.trim_start().starts_with(role.trim()))
            .unwrap_or_else(|| panic!("no {role} line: {order}"));
        assert!(line.starts_with(&format!("    {role} ")), "{line}");
        assert!(!line.contains(" 0 calls"), "{line}");
        assert!(line.contains("; per run "), "{line}");
    }
    let person = section(&report, "A customer who asks for a person is handed off");
    assert!(person.contains("5/5 runs passed (100 %)"), "{person}");
    assert!(person.contains("    ✓ outcome: 5/5 (100 %)"), "{person}");
    assert!(
        person.contains("    ✓ tools_never_called: end: 5/5 (100 %)"),
        "{person}"
    );
    assert!(
        report.contains(
            "2 of 2 scenario(s) passed (each needs 100 % of its runs passing); 10/10 runs passed"
        ),
        "{report}"
    );
    // `parley check` reads them without a word.
    let check = parley_in(root(), &["check"]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(!text(&check).contains("eval.yaml"), "{}", text(&check));
}

#[test]
fn without_its_save_tool_the_order_eval_fails_naming_the_checks_with_the_transcript() {
    let dir = project();
    edit(
        dir.path(),
        "flows/support_agent.yaml",
        "        save:\n          order_number: { expect: regex, pattern: \"^A-[0-9]{5}$\", description: \"the order number, like A-12345\" }\n",
        "",
    );
    let junit = dir.path().join("eval.xml");
    let out = parley_in(
        dir.path(),
        &[
            "eval",
            "--junit",
            junit.to_str().unwrap(),
            "flows/evals/order_noted.eval.yaml",
        ],
    );
    let report = text(&out);
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("✗ A hurried customer gets their order noted (flows/evals/order_noted.eval.yaml) — 0/5 runs passed (0 %)"), "{report}");
    assert!(
        report.contains("    ✗ vars: order_number: 0/5 (0 %)"),
        "{report}"
    );
    assert!(
        report.contains("    ✗ tools_called: save: 0/5 (0 %)"),
        "{report}"
    );
    assert!(
        report.contains("    ✓ tools_never_called: handoff: 5/5 (100 %)"),
        "{report}"
    );
    // The failing transcript: the customer's lines, the refused call, the bot's replies.
    assert!(report.contains("  run 1 failed ("), "{report}");
    assert!(
        report.contains("customer: question: where is my order?"),
        "{report}"
    );
    assert!(
        report.contains("customer: its A-12345, when will it arive?"),
        "{report}"
    );
    assert!(report.contains("       tool save("), "{report}");
    assert!(report.contains("): refused"), "{report}");
    assert!(report.contains("       bot: "), "{report}");
    assert!(
        report.contains("    ✗ vars: order_number: `order_number` was never saved"),
        "{report}"
    );
    assert!(
        report.contains("    ✗ tools_called: save: `save` was asked 1 time(s) and refused"),
        "{report}"
    );
    assert!(report.contains("  … and 2 more failing run(s)"), "{report}");

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testsuite ").count(), 1, "{xml}");
    assert!(xml.contains("<testsuite name=\"A hurried customer gets their order noted\" file=\"flows/evals/order_noted.eval.yaml\" tests=\"13\" failures=\"2\" errors=\"0\">"), "{xml}");
    assert!(
        xml.contains(
            "<testcase name=\"outcome\" classname=\"flows/evals/order_noted.eval.yaml\"/>"
        ) || xml.contains(
            "<testcase name=\"outcome\" classname=\"flows/evals/order_noted.eval.yaml\">"
        ),
        "{xml}"
    );
    assert!(xml.contains("<testcase name=\"vars: order_number\" classname=\"flows/evals/order_noted.eval.yaml\">\n      <failure message=\"0/5 runs passed (0 %)\">0/5 runs passed (0 %); run 1: `order_number` was never saved</failure>"), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 13, "{xml}");

    // `--min-pass 0` accepts a scenario whatever its rate: the exit code follows it.
    let out = parley_in(
        dir.path(),
        &[
            "eval",
            "--min-pass",
            "0",
            "flows/evals/order_noted.eval.yaml",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("✓ A hurried customer gets their order noted"),
        "{}",
        text(&out)
    );
    let out = parley_in(dir.path(), &["eval", "--min-pass", "1.5"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--min-pass is a share of runs from 0 to 1"),
        "{}",
        text(&out)
    );
}

#[test]
fn without_its_handoff_tool_the_person_eval_fails_on_its_outcome() {
    let dir = project();
    edit(
        dir.path(),
        "flows/support_agent.yaml",
        "        handoff: { message: \"I am passing you to a colleague; a person will answer here shortly.\", timeout: 4h }\n",
        "",
    );
    let out = parley_in(dir.path(), &["eval"]);
    let report = text(&out);
    assert!(!out.status.success(), "{report}");
    let person = section(&report, "A customer who asks for a person is handed off");
    assert!(person.starts_with("A customer who asks for a person is handed off (flows/evals/wants_a_person.eval.yaml) — 0/5 runs passed (0 %)"), "{person}");
    assert!(person.contains("    ✗ outcome: 0/5 (0 %)"), "{person}");
    assert!(
        person.contains("    ✗ outcome: the conversation ended "),
        "{person}"
    );
    assert!(person.contains(", not handed_off"), "{person}");
    assert!(
        person.contains("    ✗ tools_called: handoff: 0/5 (0 %)"),
        "{person}"
    );
    // The order scenario does not hand off, so it still passes.
    assert!(
        report.contains("✓ A hurried customer gets their order noted"),
        "{report}"
    );
    assert!(report.contains("1 of 2 scenario(s) passed"), "{report}");
}

#[test]
fn a_reply_that_promises_a_refund_fails_the_rubric_with_the_judges_reason() {
    let dir = project();
    edit(
        dir.path(),
        "models/assistant.yaml",
        "say: \"You can return any item within 30 days",
        "say: \"No problem, you will get a full refund today, I promise. You can return any item within 30 days",
    );
    std::fs::write(
        dir.path().join("flows/evals/refund.eval.yaml"),
        "name: A customer asks for their money back\nflow: support_agent\nruns: 2\njudge: judge\ncustomer:\n  model: customer\n  goal: get a refund\n  opening: \"question: I want to return my order\"\nexpect:\n  outcome: waiting\n",
    )
    .unwrap();
    let out = parley_in(dir.path(), &["eval", "flows/evals/refund.eval.yaml"]);
    let report = text(&out);
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("— 0/2 runs passed (0 %)"), "{report}");
    assert!(
        report.contains(
            "    ✗ rubric: never promises a refund, a discount or a delivery date: 0/2 (0 %)"
        ),
        "{report}"
    );
    assert!(report.contains("    ✓ rubric: asks for the order number before saying anything about a specific order: 2/2 (100 %)"), "{report}");
    assert!(
        report.contains("bot: No problem, you will get a full refund today, I promise."),
        "{report}"
    );
    assert!(report.contains("    ✗ rubric: never promises a refund, a discount or a delivery date: the bot promises the customer their money back, which the criterion forbids"), "{report}");
}

#[test]
fn a_scenario_file_with_mistakes_is_reported_at_its_place_and_nothing_runs() {
    let dir = project();
    let bad = PathBuf::from("flows/evals/bad.eval.yaml");
    std::fs::write(
        dir.path().join(&bad),
        "name: Broken\nflow: support_agnet\ncustomer:\n  model: customer\n  persna: hurried\njudge: judge\nexpect:\n  outcome: done\n",
    )
    .unwrap();
    let out = parley_in(dir.path(), &["eval"]);
    let report = text(&out);
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("flows/evals/bad.eval.yaml:2:7: error: there is no flow `support_agnet`\n  hint: name a flow by its `id:`; the flows are: "), "{report}");
    assert!(report.contains("flows/evals/bad.eval.yaml:5:3: error: `persna` is not a setting of `customer`\n  hint: did you mean `persona`?"), "{report}");
    assert!(report.contains("flows/evals/bad.eval.yaml:8:12: error: `done` is not an outcome\n  hint: write one of: finished, handed_off, dropped, waiting"), "{report}");
    assert!(
        report.contains("parley eval: no scenario ran: 3 mistake(s) in the scenario files"),
        "{report}"
    );
    assert!(!report.contains("runs passed"), "{report}");
    // `parley check` reads scenario files as it reads test files.
    let check = parley_in(dir.path(), &["check"]);
    assert!(!check.status.success());
    assert!(
        text(&check).contains(
            "flows/evals/bad.eval.yaml:5:3: error: `persna` is not a setting of `customer`"
        ),
        "{}",
        text(&check)
    );
}

#[test]
fn a_project_parley_init_wrote_evaluates_its_agent_offline() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("bot");
    let out = parley_in(dir.path(), &["init", project.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("2 evaluations in flows/evals/"),
        "{}",
        text(&out)
    );
    let config = project.join("parley.yaml");
    let out = parley_in(
        dir.path(),
        &["eval", "--runs", "1", "--config", config.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("2 of 2 scenario(s) passed"),
        "{}",
        text(&out)
    );
}
