//! An `agent` step's `rubric:` and `score:` (issue 59): what a judge model checks in the
//! step's conversations, and which share of the finished ones is scored in the background.
//! The rubric is also what `parley eval` judges a scenario by when its file gives none.

use super::problem::{did_you_mean, Problems};
use super::yaml::{self, YamlNode};
use marked_yaml::types::MarkedMappingNode;

pub const SCORE_KEYS: &[&str] = &["judge", "share", "budget"];
pub const SCORE_BUDGET_KEYS: &[&str] = &["cost_per_day", "tokens_per_day"];
/// The most criteria in a rubric: the judge is asked once per criterion.
pub const RUBRIC_MAX: usize = 20;
/// The longest criterion, in characters.
pub const CRITERION_MAX: usize = 300;

/// `score:` of an agent step: a share of its finished conversations judged in the background.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreSpec {
    /// A model of the config's `models:`.
    pub judge: String,
    /// Percent of finished conversations scored (1–100).
    pub share: u32,
    /// US dollars the judge may spend on this step's conversations in a day (UTC).
    pub cost_per_day: Option<f64>,
    /// Tokens the judge may spend on this step's conversations in a day (UTC).
    pub tokens_per_day: Option<u64>,
}

/// `rubric:` (criteria, in plain words) and `score:` of an agent step's settings `m`;
/// `models` are the config's model names when the config is known. `None` when one of them
/// is wrong (the problem is reported).
pub fn compile(
    m: &MarkedMappingNode,
    models: Option<&[String]>,
    problems: &mut Problems,
) -> Option<(Vec<String>, Option<ScoreSpec>)> {
    let rubric = rubric(m, problems);
    let score = match m.get_node("score") {
        None => Some(None),
        Some(node) => score(node, models, problems).map(Some),
    };
    let (rubric, score) = (rubric?, score?);
    if score.is_some() && rubric.is_empty() {
        let node = m.get_node("score")?;
        problems.error(
            yaml::pos(node),
            "`score` needs a `rubric`: the judge scores a conversation by its criteria",
            Some("add `rubric:` to this agent, a list of criteria in plain words, like `- never promises a refund`".into()),
        );
        return None;
    }
    Some((rubric, score))
}

fn rubric(m: &MarkedMappingNode, problems: &mut Problems) -> Option<Vec<String>> {
    let Some(node) = m.get_node("rubric") else {
        return Some(Vec::new());
    };
    let hint = "a list of criteria in plain words, like `rubric: [\"never promises a refund\"]`";
    if !matches!(node, YamlNode::Sequence(_)) {
        problems.error(
            yaml::pos(node),
            "`rubric` is a list of criteria",
            Some(hint.into()),
        );
        return None;
    }
    let items = yaml::as_list(node);
    if items.is_empty() || items.len() > RUBRIC_MAX {
        problems.error(
            yaml::pos(node),
            format!(
                "`rubric` has {} criteria; give 1 to {RUBRIC_MAX}",
                items.len()
            ),
            Some("the judge is asked once per criterion: keep the ones that matter most".into()),
        );
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        let Some(text) = yaml::as_str(item, "a criterion", problems) else {
            ok = false;
            continue;
        };
        let text = text.trim();
        let n = text.chars().count();
        if n == 0 || n > CRITERION_MAX {
            problems.error(
                yaml::pos(item),
                format!("a criterion is {n} characters long; give 1 to {CRITERION_MAX}"),
                Some("one thing the assistant must or must not do, in one sentence".into()),
            );
            ok = false;
            continue;
        }
        out.push(text.to_string());
    }
    ok.then_some(out)
}

fn score(node: &YamlNode, models: Option<&[String]>, problems: &mut Problems) -> Option<ScoreSpec> {
    let sm = yaml::as_map(node, "`score`", problems)?;
    yaml::check_keys(sm, SCORE_KEYS, "`score`", problems);
    let judge = judge(sm, node, models, problems);
    let share = match sm.get_node("share") {
        None => {
            problems.error(
                yaml::pos(node),
                "`score` needs `share:`: the percent of finished conversations to score",
                Some("like `share: 20` for one conversation in five".into()),
            );
            None
        }
        Some(n) => match yaml::as_int(n, "`share`", problems) {
            Some(v) if (1..=100).contains(&v) => Some(v as u32),
            Some(v) => {
                problems.error(
                    yaml::pos(n),
                    format!("`share` must be between 1 and 100 (percent), found {v}"),
                    Some("like `share: 20` for one conversation in five".into()),
                );
                None
            }
            None => None,
        },
    };
    let (cost_per_day, tokens_per_day) = match sm.get_node("budget") {
        None => (None, None),
        Some(b) => budget(b, problems)?,
    };
    Some(ScoreSpec {
        judge: judge?,
        share: share?,
        cost_per_day,
        tokens_per_day,
    })
}

fn judge(
    sm: &MarkedMappingNode,
    node: &YamlNode,
    models: Option<&[String]>,
    problems: &mut Problems,
) -> Option<String> {
    let Some(j) = sm.get_node("judge") else {
        problems.error(
            yaml::pos(node),
            "`score` needs `judge:`: the name of a model from the config's `models:`",
            Some("like `judge: judge`, with `models: [{ name: judge, kind: openai, … }]` in the config".into()),
        );
        return None;
    };
    let name = yaml::as_str(j, "`judge`", problems)?;
    let Some(known) = models else {
        return Some(name.to_string());
    };
    if known.iter().any(|k| k == name) {
        return Some(name.to_string());
    }
    let names: Vec<&str> = known.iter().map(String::as_str).collect();
    let hint = match did_you_mean(name, &names) {
        Some(s) => format!("did you mean `{s}`?"),
        None if names.is_empty() => "the config has no `models:`; add the judge there, like `models: [{ name: judge, kind: openai, base_url: \"https://api.openai.com/v1\", api_key: \"${OPENAI_API_KEY}\", model: gpt-4o-mini }]`".into(),
        None => format!("the config's models are: {}", names.join(", ")),
    };
    problems.error(
        yaml::pos(j),
        format!("there is no model `{name}` in the config's `models:`"),
        Some(hint),
    );
    None
}

type DayBudget = (Option<f64>, Option<u64>);

/// `budget: { cost_per_day: 1.00, tokens_per_day: 200000 }`.
fn budget(node: &YamlNode, problems: &mut Problems) -> Option<DayBudget> {
    let bm = yaml::as_map(node, "`budget`", problems)?;
    yaml::check_keys(bm, SCORE_BUDGET_KEYS, "`budget`", problems);
    if bm.is_empty() {
        problems.error(
            yaml::pos(node),
            "`budget` is empty",
            Some("give `cost_per_day:` (US dollars), `tokens_per_day:` or both".into()),
        );
        return None;
    }
    let mut ok = true;
    let cost = bm.get_node("cost_per_day").and_then(|n| {
        let v = yaml::as_f64(n, "`cost_per_day`", problems);
        match v {
            Some(v) if v > 0.0 && v.is_finite() => Some(v),
            Some(v) => {
                problems.error(
                    yaml::pos(n),
                    format!("`cost_per_day` must be more than 0, found {v}"),
                    Some(
                        "US dollars the judge may spend in a day, like `cost_per_day: 1.00`".into(),
                    ),
                );
                ok = false;
                None
            }
            None => {
                ok = false;
                None
            }
        }
    });
    let tokens = bm.get_node("tokens_per_day").and_then(|n| {
        match yaml::as_int(n, "`tokens_per_day`", problems) {
            Some(v) if v > 0 => Some(v as u64),
            Some(v) => {
                problems.error(
                    yaml::pos(n),
                    format!("`tokens_per_day` must be more than 0, found {v}"),
                    Some(
                        "tokens the judge may spend in a day, like `tokens_per_day: 200000`".into(),
                    ),
                );
                ok = false;
                None
            }
            None => {
                ok = false;
                None
            }
        }
    });
    ok.then_some((cost, tokens))
}

#[cfg(test)]
#[path = "scoring_tests.rs"]
mod tests;
