//! The scenario's checks over one run's transcript (issue 59): one named check per thing
//! that must hold — `outcome`, `vars: order_number`, `tools_called: save`,
//! `rubric: never promises a refund`… — so the report gives a pass rate per check, and
//! each result says in plain words what was seen.

use super::format::{Scenario, Wanted};
use super::judge::Verdict;
use super::run::Transcript;

/// One check's result in one run.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// `outcome`, `vars: order_number`, `replies: forbid guarantee`…
    pub name: String,
    pub pass: bool,
    /// What was seen, in plain words ("the reply of turn 3 is 712 characters, over 600").
    pub detail: String,
}

fn result(name: impl Into<String>, pass: bool, detail: impl Into<String>) -> CheckResult {
    CheckResult {
        name: name.into(),
        pass,
        detail: detail.into(),
    }
}

/// The names of the scenario's checks, in the order `check` gives them.
pub fn names(s: &Scenario) -> Vec<String> {
    let e = &s.expect;
    let mut out = vec!["run".to_string()];
    if e.outcome.is_some() {
        out.push("outcome".into());
    }
    out.extend(e.vars.keys().map(|k| format!("vars: {k}")));
    out.extend(e.tools_called.iter().map(|t| format!("tools_called: {t}")));
    out.extend(
        e.tools_never_called
            .iter()
            .map(|t| format!("tools_never_called: {t}")),
    );
    if e.max_length.is_some() {
        out.push("replies: max_length".into());
    }
    if e.allowed_domains.is_some() {
        out.push("replies: allowed_domains".into());
    }
    out.extend(e.forbid.iter().map(|p| format!("replies: forbid {p}")));
    if e.turns_at_most.is_some() {
        out.push("turns_at_most".into());
    }
    if e.cost_at_most.is_some() {
        out.push("cost_at_most".into());
    }
    out.extend(e.rubric.iter().map(|c| format!("rubric: {c}")));
    out
}

/// Every check of `s` over the run `t` and the judge's `verdicts`. A run that could not
/// be made fails `run` and every other check with its reason.
pub fn check(s: &Scenario, t: &Transcript, verdicts: &[Verdict]) -> Vec<CheckResult> {
    if let Some(why) = &t.error {
        return names(s)
            .into_iter()
            .map(|name| {
                let detail = if name == "run" {
                    format!("the run failed: {why}")
                } else {
                    "not checked: the run failed".to_string()
                };
                result(name, false, detail)
            })
            .collect();
    }
    let e = &s.expect;
    let mut out = vec![result(
        "run",
        true,
        format!("{} turn(s); {}", t.turns.len(), t.ended),
    )];
    if let Some(want) = e.outcome {
        let detail = match t.outcome {
            Some(got) if got == want => format!("the conversation {}", got.name()),
            Some(got) => format!("the conversation ended {}, not {}", got.name(), want.name()),
            None => format!("the flow never started, so it is not {}", want.name()),
        };
        out.push(result("outcome", t.outcome == Some(want), detail));
    }
    for (name, wanted) in &e.vars {
        out.push(var(name, wanted, t.vars.get(name)));
    }
    for tool in &e.tools_called {
        let (done, refused) = calls(t, tool);
        let detail = match (done, refused.len()) {
            (0, 0) => format!("`{tool}` was never called"),
            (0, n) => format!(
                "`{tool}` was asked {n} time(s) and refused: {}",
                refused.join("; ")
            ),
            (n, _) => format!("`{tool}` was carried out {n} time(s)"),
        };
        out.push(result(format!("tools_called: {tool}"), done > 0, detail));
    }
    for tool in &e.tools_never_called {
        let (done, refused) = calls(t, tool);
        let detail = match (done, refused.len()) {
            (0, 0) => format!("`{tool}` was never called"),
            (0, n) => format!("asked {n} time(s), refused: {}", refused.join("; ")),
            (n, _) => format!("`{tool}` was carried out {n} time(s)"),
        };
        out.push(result(
            format!("tools_never_called: {tool}"),
            done == 0,
            detail,
        ));
    }
    if let Some(max) = e.max_length {
        out.push(max_length(t, max));
    }
    if let Some(domains) = &e.allowed_domains {
        out.push(allowed_domains(t, domains));
    }
    for pattern in &e.forbid {
        out.push(forbid(t, pattern));
    }
    if let Some(most) = e.turns_at_most {
        let n = t.turns.len();
        let detail = if n as u64 <= u64::from(most) {
            format!("{n} customer message(s), at most {most}")
        } else {
            format!("{n} customer messages, over {most}")
        };
        out.push(result("turns_at_most", n as u64 <= u64::from(most), detail));
    }
    if let Some(most) = e.cost_at_most {
        let cost = t.usage.get("agent").map_or(0.0, |u| u.cost);
        let pass = cost <= most + 1e-12;
        let word = if pass { "at most" } else { "over" };
        out.push(result(
            "cost_at_most",
            pass,
            format!("the agent's model cost ${cost:.6}, {word} ${most}"),
        ));
    }
    for criterion in &e.rubric {
        let name = format!("rubric: {criterion}");
        out.push(match verdicts.iter().find(|v| v.criterion == *criterion) {
            Some(v) => result(name, v.pass, v.reason.clone()),
            None => result(name, false, "the judge gave no verdict on it"),
        });
    }
    out
}

fn var(name: &str, wanted: &Wanted, got: Option<&serde_json::Value>) -> CheckResult {
    let check = format!("vars: {name}");
    let Some(got) = got.filter(|v| !v.is_null()) else {
        return result(check, false, format!("`{name}` was never saved"));
    };
    let text = match got {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match wanted {
        Wanted::Exact(want) => {
            let pass = text == *want;
            let detail = if pass {
                format!("`{name}` is \"{text}\"")
            } else {
                format!("`{name}` is \"{text}\", not \"{want}\"")
            };
            result(check, pass, detail)
        }
        Wanted::Matches(pattern) => {
            let pass = regex::Regex::new(pattern).is_ok_and(|re| re.is_match(&text));
            let how = if pass { "matches" } else { "does not match" };
            result(
                check,
                pass,
                format!("`{name}` is \"{text}\", which {how} `{pattern}`"),
            )
        }
    }
}

/// How often `tool` was carried out, and the reasons of its refused calls.
fn calls(t: &Transcript, tool: &str) -> (usize, Vec<String>) {
    let all = t
        .turns
        .iter()
        .flat_map(|turn| &turn.tool_calls)
        .filter(|c| c.name == tool);
    let mut done = 0;
    let mut refused = Vec::new();
    for c in all {
        if c.accepted {
            done += 1;
        } else {
            refused.push(c.reason.clone().unwrap_or_else(|| "no reason given".into()));
        }
    }
    (done, refused)
}

/// Each reply with its 1-based turn.
fn replies(t: &Transcript) -> impl Iterator<Item = (usize, &String)> {
    t.turns
        .iter()
        .enumerate()
        .flat_map(|(i, turn)| turn.replies.iter().map(move |r| (i + 1, r)))
}

fn max_length(t: &Transcript, max: usize) -> CheckResult {
    let longest = replies(t).map(|(turn, r)| (r.chars().count(), turn)).max();
    match longest {
        Some((n, turn)) if n > max => result(
            "replies: max_length",
            false,
            format!("the reply of turn {turn} is {n} characters, over {max}"),
        ),
        Some((n, _)) => result(
            "replies: max_length",
            true,
            format!("the longest reply is {n} characters"),
        ),
        None => result("replies: max_length", true, "no replies"),
    }
}

fn allowed_domains(t: &Transcript, domains: &[String]) -> CheckResult {
    let rules = crate::flows::Guardrails {
        max_length: usize::MAX,
        allowed_domains: domains.to_vec(),
        ..Default::default()
    };
    for (turn, reply) in replies(t) {
        if let Err(why) = crate::engine::guard::check_answer(&rules, reply) {
            if why.starts_with("it links") || why.starts_with("it contains a link") {
                return result(
                    "replies: allowed_domains",
                    false,
                    format!(
                        "the reply of turn {turn}: {}",
                        why.trim_start_matches("it ")
                    ),
                );
            }
        }
    }
    result(
        "replies: allowed_domains",
        true,
        format!("links only to {}", shown(domains)),
    )
}

fn shown(domains: &[String]) -> String {
    if domains.is_empty() {
        "nowhere (no links)".into()
    } else {
        domains.join(", ")
    }
}

fn forbid(t: &Transcript, pattern: &str) -> CheckResult {
    let name = format!("replies: forbid {pattern}");
    let Ok(re) = regex::Regex::new(pattern) else {
        return result(name, false, format!("`{pattern}` is not a pattern"));
    };
    for (turn, reply) in replies(t) {
        if let Some(m) = re.find(reply) {
            return result(
                name,
                false,
                format!("the reply of turn {turn} says \"{}\"", m.as_str()),
            );
        }
    }
    result(name, true, "no reply matches it")
}
