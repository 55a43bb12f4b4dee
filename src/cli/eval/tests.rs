//! Checks and the report over hand-made transcripts and verdicts (no runner): each check's
//! pass and detail, pass rates, `--min-pass`, the failing transcript in the report, JUnit.

use super::checks::{check, names, CheckResult};
use super::format::{Customer, Expect, Outcome, Scenario, Wanted};
use super::judge::Verdict;
use super::report::{self, ScenarioReport};
use super::run::{ToolCall, Transcript, Turn, Usage};

fn scenario() -> Scenario {
    Scenario {
        name: "Order noted".into(),
        flow: "support_agent".into(),
        runs: None,
        phone: "+34600000077".into(),
        contact_name: None,
        customer: Customer::default(),
        judge: Some("judge".into()),
        expect: Expect {
            outcome: Some(Outcome::Finished),
            vars: [(
                "order_number".to_string(),
                Wanted::Matches("^A-[0-9]{5}$".into()),
            )]
            .into(),
            tools_called: vec!["save".into()],
            tools_never_called: vec!["delete_all".into()],
            max_length: Some(30),
            allowed_domains: Some(vec!["acme.example".into()]),
            forbid: vec!["(?i)guarantee".into()],
            turns_at_most: Some(2),
            cost_at_most: Some(0.01),
            rubric: vec!["never promises a refund".into()],
        },
    }
}

fn call(name: &str, accepted: bool, reason: Option<&str>) -> ToolCall {
    ToolCall {
        name: name.into(),
        arguments: "{}".into(),
        accepted,
        reason: reason.map(Into::into),
    }
}

/// A run that passes every check of `scenario()`.
fn good(run: u32) -> Transcript {
    Transcript {
        run,
        turns: vec![Turn {
            customer: "A-12345".into(),
            replies: vec!["Noted: see acme.example".into()],
            tool_calls: vec![
                call("save", true, None),
                call("delete_all", false, Some("not declared")),
                call("delete_all", false, Some("not declared")),
            ],
        }],
        outcome: Some(Outcome::Finished),
        vars: [("order_number".to_string(), serde_json::json!("A-12345"))].into(),
        ended: "goal reached".into(),
        usage: [(
            "agent",
            Usage {
                calls: 2,
                input_tokens: 1000,
                output_tokens: 50,
                cost: 0.0002,
            },
        )]
        .into(),
        error: None,
    }
}

fn pass_verdict(pass: bool) -> Vec<Verdict> {
    vec![Verdict {
        criterion: "never promises a refund".into(),
        pass,
        reason: if pass {
            "fine".into()
        } else {
            "it promises a full refund".into()
        },
    }]
}

fn by_name<'a>(results: &'a [CheckResult], name: &str) -> &'a CheckResult {
    results
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}: {results:#?}"))
}

#[test]
fn a_good_run_passes_every_named_check_and_a_refused_call_is_told_not_counted() {
    let s = scenario();
    let results = check(&s, &good(1), &pass_verdict(true));
    let got: Vec<&str> = results.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        got,
        names(&s).iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(
        got,
        vec![
            "run",
            "outcome",
            "vars: order_number",
            "tools_called: save",
            "tools_never_called: delete_all",
            "replies: max_length",
            "replies: allowed_domains",
            "replies: forbid (?i)guarantee",
            "turns_at_most",
            "cost_at_most",
            "rubric: never promises a refund",
        ]
    );
    assert!(results.iter().all(|c| c.pass), "{results:#?}");
    assert_eq!(
        by_name(&results, "tools_never_called: delete_all").detail,
        "asked 2 time(s), refused: not declared; not declared"
    );
}

#[test]
fn each_check_fails_with_what_was_seen() {
    let s = scenario();
    let mut t = good(2);
    t.outcome = Some(Outcome::HandedOff);
    t.vars
        .insert("order_number".into(), serde_json::json!("12345"));
    t.turns[0].tool_calls = vec![
        call("save", false, Some("not like ^A-[0-9]{5}$")),
        call("delete_all", true, None),
    ];
    t.turns[0].replies = vec!["We guarantee it".into()];
    t.turns.push(Turn {
        customer: "and?".into(),
        replies: vec!["see https://evil.test/x for more".into()],
        tool_calls: Vec::new(),
    });
    t.turns.push(Turn::default());
    t.usage.get_mut("agent").unwrap().cost = 0.05;
    let r = check(&s, &t, &pass_verdict(false));
    let detail = |n: &str| {
        let c = by_name(&r, n);
        assert!(!c.pass, "{n} should fail: {c:?}");
        c.detail.clone()
    };
    assert!(by_name(&r, "run").pass);
    assert_eq!(
        detail("outcome"),
        "the conversation ended handed_off, not finished"
    );
    assert_eq!(
        detail("vars: order_number"),
        "`order_number` is \"12345\", which does not match `^A-[0-9]{5}$`"
    );
    assert_eq!(
        detail("tools_called: save"),
        "`save` was asked 1 time(s) and refused: not like ^A-[0-9]{5}$"
    );
    assert_eq!(
        detail("tools_never_called: delete_all"),
        "`delete_all` was carried out 1 time(s)"
    );
    assert_eq!(
        detail("replies: max_length"),
        "the reply of turn 2 is 32 characters, over 30"
    );
    assert!(
        detail("replies: allowed_domains").starts_with("the reply of turn 2: links to evil.test")
    );
    assert_eq!(
        detail("replies: forbid (?i)guarantee"),
        "the reply of turn 1 says \"guarantee\""
    );
    assert_eq!(detail("turns_at_most"), "3 customer messages, over 2");
    assert_eq!(
        detail("cost_at_most"),
        "the agent's model cost $0.050000, over $0.01"
    );
    assert_eq!(
        detail("rubric: never promises a refund"),
        "it promises a full refund"
    );
}

#[test]
fn a_missing_variable_verdict_or_a_failed_run_fails_plainly() {
    let s = scenario();
    let mut t = good(1);
    t.vars.clear();
    let r = check(&s, &t, &[]);
    assert_eq!(
        by_name(&r, "vars: order_number").detail,
        "`order_number` was never saved"
    );
    assert_eq!(
        by_name(&r, "rubric: never promises a refund").detail,
        "the judge gave no verdict on it"
    );
    let failed = Transcript {
        run: 3,
        error: Some("the customer model `customer` failed: timeout".into()),
        ..Transcript::default()
    };
    let r = check(&s, &failed, &[]);
    assert_eq!(r.len(), names(&s).len());
    assert!(r.iter().all(|c| !c.pass));
    assert_eq!(
        by_name(&r, "run").detail,
        "the run failed: the customer model `customer` failed: timeout"
    );
    let exact = Wanted::Exact("A-12345".into());
    let mut s2 = s.clone();
    s2.expect.vars.insert("order_number".into(), exact);
    let mut t = good(1);
    t.vars
        .insert("order_number".into(), serde_json::json!("A-99999"));
    let r = check(&s2, &t, &pass_verdict(true));
    assert_eq!(
        by_name(&r, "vars: order_number").detail,
        "`order_number` is \"A-99999\", not \"A-12345\""
    );
}

/// A report of `passing` good runs out of `all`, the others failing the rubric.
fn report_of(passing: u32, all: u32) -> ScenarioReport {
    let s = scenario();
    let results = (1..=all)
        .map(|n| {
            let verdicts = pass_verdict(n <= passing);
            (good(n), verdicts)
        })
        .map(|(t, v)| {
            Ok::<_, String>(super::run::RunResult {
                transcript: t,
                verdicts: v,
            })
        })
        .collect::<Result<Vec<_>, String>>();
    super::scenario_report(&s, "flows/evals/order.eval.yaml", results)
}

#[test]
fn pass_rates_and_min_pass_decide_the_exit() {
    let r = report_of(3, 5);
    assert_eq!(r.passed_runs(), 3);
    assert!((r.pass_rate() - 0.6).abs() < 1e-9);
    assert_eq!(r.check_rate("rubric: never promises a refund"), (3, 5));
    assert_eq!(r.check_rate("outcome"), (5, 5));
    assert!(r.ok(0.5) && r.ok(0.6) && !r.ok(0.61) && !r.ok(1.0));
    let all = [report_of(5, 5), r];
    assert!(!report::failed(&all, 0.6));
    assert!(report::failed(&all, 0.8));
    // A scenario that did not run fails whatever the threshold.
    let broken = super::scenario_report(
        &scenario(),
        "x.eval.yaml",
        Err("the customer model is down".into()),
    );
    assert!(!broken.ok(0.0));
    assert!(report::failed(&[broken], 0.0));
}

#[test]
fn the_report_shows_rates_the_failing_transcript_the_judges_reason_and_costs() {
    let mut r = report_of(4, 5);
    r.runs[4].transcript.turns[0].customer = "line one\nline two".into();
    let text = report::render(&[r], 1.0);
    assert!(
        text.starts_with("✗ Order noted (flows/evals/order.eval.yaml) — 4/5 runs passed (80 %)\n"),
        "{text}"
    );
    assert!(text.contains("    ✓ outcome: 5/5 (100 %)\n"), "{text}");
    assert!(
        text.contains("    ✗ rubric: never promises a refund: 4/5 (80 %)\n"),
        "{text}"
    );
    assert!(text.contains("  run 5 failed (goal reached):\n"), "{text}");
    assert!(
        text.contains("     1 customer: line one⏎line two\n"),
        "{text}"
    );
    assert!(
        text.contains("       tool delete_all({}): refused: not declared\n"),
        "{text}"
    );
    assert!(
        text.contains("       bot: Noted: see acme.example\n"),
        "{text}"
    );
    assert!(
        text.contains("    ✗ rubric: never promises a refund: it promises a full refund\n"),
        "{text}"
    );
    assert!(text.contains("    agent    10 calls, 5000 tokens in, 250 out, $0.001000; per run 1000 tokens in, 50 out, $0.000200\n"), "{text}");
    assert!(text.contains("    customer 0 calls"), "{text}");
    assert!(
        text.contains(
            "0 of 1 scenario(s) passed (each needs 100 % of its runs passing); 4/5 runs passed"
        ),
        "{text}"
    );
    // Only three failing runs are shown in full.
    let text = report::render(&[report_of(0, 5)], 1.0);
    assert_eq!(
        text.matches(" failed (goal reached):").count(),
        report::SHOWN_FAILURES
    );
    assert!(text.contains("  … and 2 more failing run(s)\n"), "{text}");
}

#[test]
fn junit_has_a_suite_per_scenario_and_a_case_per_check_with_the_reason() {
    let mut failing = report_of(2, 4);
    // A character XML cannot hold is dropped.
    failing.name = "Refunds <never> & \"ever\"\u{1}".into();
    let broken =
        super::scenario_report(&scenario(), "b.eval.yaml", Err("the judge is down".into()));
    let xml = report::junit(&[report_of(3, 3), failing, broken]);
    assert!(xml.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"parley eval\">\n"
    ));
    assert_eq!(xml.matches("<testsuite ").count(), 3);
    assert!(xml.contains("<testsuite name=\"Order noted\" file=\"flows/evals/order.eval.yaml\" tests=\"11\" failures=\"0\" errors=\"0\">"), "{xml}");
    assert!(
        xml.contains("<testcase name=\"outcome\" classname=\"flows/evals/order.eval.yaml\"/>"),
        "{xml}"
    );
    assert!(xml.contains("<testsuite name=\"Refunds &lt;never&gt; &amp; &quot;ever&quot;\" file=\"flows/evals/order.eval.yaml\" tests=\"11\" failures=\"1\" errors=\"0\">"), "{xml}");
    assert!(xml.contains("<testcase name=\"rubric: never promises a refund\" classname=\"flows/evals/order.eval.yaml\">\n      <failure message=\"2/4 runs passed (50 %)\">2/4 runs passed (50 %); run 3: it promises a full refund</failure>\n    </testcase>"), "{xml}");
    assert!(xml.contains("<testcase name=\"run\" classname=\"b.eval.yaml\">\n      <failure message=\"the judge is down\">the judge is down</failure>"), "{xml}");
    assert!(!xml.contains('\u{1}'));
    assert_eq!(xml.matches("<testcase ").count(), 11 + 11 + 1);
}
