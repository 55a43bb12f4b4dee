//! `rubric:` and `score:` as authors write them: compiled, and every mistake named at its
//! line and column with a hint.

use super::ScoreSpec;
use crate::flows::model::Op;
use crate::flows::{load_dir_with, Deployment, LoadReport, LoadSettings};
use std::time::Duration;

fn load(flow: &str, models: Option<&[&str]>) -> (LoadReport, String) {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::write(flows.join("bot.yaml"), flow).unwrap();
    let templates = crate::config::Config::embedded_default().templates;
    let settings = LoadSettings {
        dir: &flows,
        scripts_dir: &dir.path().join("scripts"),
        templates: &templates,
        window: Duration::from_secs(24 * 3600),
        overrides: None,
    };
    let deployment = models.map(|names| Deployment {
        sender_ids: vec![1],
        model_names: names.iter().map(|s| s.to_string()).collect(),
        ..Deployment::default()
    });
    let report = load_dir_with(&settings, deployment.as_ref());
    let rendered = report
        .render()
        .replace(&format!("{}/", dir.path().display()), "");
    (report, rendered)
}

fn flow(extra: &str) -> String {
    format!(
        "id: bot\nsteps:\n  - agent:\n      model: assistant\n      instructions: Help.\n      scope: orders\n      if_window_closed: skip\n{extra}"
    )
}

const RUBRIC: &str =
    "      rubric:\n        - never promises a refund\n        - asks for the order number first\n";

fn agent(report: &LoadReport) -> crate::flows::model::AgentSpec {
    let set = report.set.as_ref().expect("flows load");
    let flow = set.get("bot").unwrap();
    flow.steps
        .iter()
        .find_map(|s| match &s.op {
            Op::Agent(a) => Some((**a).clone()),
            _ => None,
        })
        .unwrap()
}

#[test]
fn rubric_and_score_compile() {
    let text = flow(&format!(
        "{RUBRIC}      score:\n        judge: judge\n        share: 20\n        budget: {{ cost_per_day: 1.5, tokens_per_day: 200000 }}\n"
    ));
    let (report, rendered) = load(&text, Some(&["assistant", "judge"]));
    assert!(report.problems.is_empty(), "{rendered}");
    let a = agent(&report);
    assert_eq!(
        a.rubric,
        vec!["never promises a refund", "asks for the order number first"]
    );
    assert_eq!(
        a.score,
        Some(ScoreSpec {
            judge: "judge".into(),
            share: 20,
            cost_per_day: Some(1.5),
            tokens_per_day: Some(200_000),
        })
    );
}

#[test]
fn a_rubric_alone_scores_nothing() {
    let (report, rendered) = load(&flow(RUBRIC), None);
    assert!(report.problems.is_empty(), "{rendered}");
    let a = agent(&report);
    assert_eq!(a.rubric.len(), 2);
    assert_eq!(a.score, None);
}

#[test]
fn score_without_rubric_is_an_error() {
    let text = flow("      score: { judge: judge, share: 10 }\n");
    let (report, rendered) = load(&text, None);
    assert!(report.set.is_none(), "{rendered}");
    assert!(
        rendered.contains("flows/bot.yaml:8:16: error: `score` needs a `rubric`"),
        "{rendered}"
    );
    assert!(rendered.contains("hint: add `rubric:`"), "{rendered}");
}

#[test]
fn the_judge_must_be_a_model_of_the_config() {
    let text = flow(&format!(
        "{RUBRIC}      score: {{ judge: jduge, share: 10 }}\n"
    ));
    let (report, _) = load(&text, None);
    assert!(report.problems.is_empty());
    let (report, rendered) = load(&text, Some(&["assistant", "judge"]));
    assert!(report.set.is_none(), "{rendered}");
    assert!(
        rendered.contains(
            "flows/bot.yaml:11:23: error: there is no model `jduge` in the config's `models:`\n  hint: did you mean `judge`?"
        ),
        "{rendered}"
    );
}

#[test]
fn each_mistake_is_named_at_its_place() {
    let cases: &[(&str, &str)] = &[
        (
            "      score: { judge: judge, share: 0 }\n",
            "flows/bot.yaml:11:37: error: `share` must be between 1 and 100 (percent), found 0",
        ),
        (
            "      score: { judge: judge }\n",
            "flows/bot.yaml:11:16: error: `score` needs `share:`",
        ),
        (
            "      score: { share: 5 }\n",
            "flows/bot.yaml:11:16: error: `score` needs `judge:`",
        ),
        (
            "      score: { judge: judge, share: 5, budget: { cost_per_day: -1 } }\n",
            "error: `cost_per_day` must be more than 0, found -1",
        ),
        (
            "      score: { judge: judge, share: 5, budget: { tokens_per_day: 0 } }\n",
            "error: `tokens_per_day` must be more than 0, found 0",
        ),
        (
            "      score: { judge: judge, share: 5, budget: {} }\n",
            "error: `budget` is empty",
        ),
    ];
    for (extra, expected) in cases {
        let text = flow(&format!("{RUBRIC}{extra}"));
        let (report, rendered) = load(&text, None);
        assert!(report.set.is_none(), "{extra}: {rendered}");
        assert!(rendered.contains(expected), "{extra}: {rendered}");
    }
}

#[test]
fn a_rubric_is_bounded() {
    let long = "x".repeat(301);
    let text = flow(&format!("      rubric:\n        - \"{long}\"\n"));
    let (_, rendered) = load(&text, None);
    assert!(
        rendered.contains(
            "flows/bot.yaml:9:11: error: a criterion is 301 characters long; give 1 to 300"
        ),
        "{rendered}"
    );
    let many: String = (0..21).map(|i| format!("        - rule {i}\n")).collect();
    let (_, rendered) = load(&flow(&format!("      rubric:\n{many}")), None);
    assert!(
        rendered.contains("`rubric` has 21 criteria; give 1 to 20"),
        "{rendered}"
    );
    let (_, rendered) = load(&flow("      rubric: be kind\n"), None);
    assert!(
        rendered.contains("`rubric` is a list of criteria"),
        "{rendered}"
    );
}
