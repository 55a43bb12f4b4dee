//! Experiments' insights as people read them (issue 58): each experiment's arms side by
//! side — started, finished (and the rate), the other outcomes, each step's answers and
//! drop-offs, the mean time to finish — and every arm but the first compared with the first
//! (`domain::stats`: the difference in finish rate, its p-value and 95 % interval, the
//! sample still needed, a verdict in plain words). The first arm is `current` for a flow's
//! versions, the first written for a `split`. Shared by `GET /api/insights/experiments` and
//! the Insights page.

use super::report::Period;
use crate::domain::experiment::CURRENT_ARM;
use crate::domain::insight::{Outcome, StepCount, FINISH_MS};
use crate::domain::pricing::rate_card::format_micros;
use crate::domain::stats::{self, Proportion};
use crate::flows::{Flow, FlowSet, Op};
use crate::store::{ArmInsightRow, ArmInsightSums};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The most experiments one answer holds (the rest are left out, `truncated`).
pub const MAX_EXPERIMENTS: usize = 200;
/// The most arms of one experiment shown.
pub const MAX_ARMS: usize = 20;

type Counters = BTreeMap<String, i64>;

/// What each arm's messages cost (micro-units of the rate card's currency), by
/// (experiment, arm).
pub type Costs = BTreeMap<(String, String), i64>;

fn get(c: &Counters, name: &str) -> i64 {
    c.get(name).copied().unwrap_or(0)
}

/// experiment → arm → step (`""`: the runs' outcomes) → counters.
type ByExperiment<'a> = BTreeMap<&'a str, BTreeMap<&'a str, BTreeMap<&'a str, Counters>>>;

fn by_experiment(rows: &[ArmInsightRow]) -> ByExperiment<'_> {
    let mut out = ByExperiment::new();
    for r in rows {
        let n = out
            .entry(&r.experiment)
            .or_default()
            .entry(&r.arm)
            .or_default()
            .entry(&r.step)
            .or_default()
            .entry(r.what.clone())
            .or_default();
        *n = n.saturating_add(r.n);
    }
    out
}

/// The flow an experiment belongs to, and whether it is a flow's versions.
pub fn flow_of(experiment: &str) -> (&str, bool) {
    crate::domain::insight::experiment_flow(experiment)
}

/// The arms in the order they are compared: the first is the baseline (`current`, or the
/// split's first arm as written), then the loaded arms as written, then any others counted.
fn arm_order<'a>(
    flow: Option<&'a Flow>,
    experiment: &str,
    versions: bool,
    counted: &[&'a str],
) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    if versions {
        order.push(CURRENT_ARM.to_string());
    } else if let Some(spec) = flow.and_then(|f| {
        f.steps.iter().find_map(|s| match &s.op {
            Op::Split(spec) if spec.experiment == experiment => Some(spec),
            _ => None,
        })
    }) {
        order.extend(spec.arms.iter().map(|a| a.name.clone()));
    }
    for arm in counted {
        if !order.iter().any(|a| a == arm) {
            order.push(arm.to_string());
        }
    }
    order.truncate(MAX_ARMS);
    order
}

fn rate(part: i64, whole: i64) -> Value {
    if whole > 0 {
        json!(part as f64 / whole as f64)
    } else {
        Value::Null
    }
}

/// One arm's figures; its steps in the flow's order (`order`), then any others counted.
fn arm_figures(
    name: &str,
    steps: Option<&BTreeMap<&str, Counters>>,
    order: &[String],
    cost: Option<i64>,
) -> Map<String, Value> {
    let empty = BTreeMap::new();
    let steps = steps.unwrap_or(&empty);
    let none = Counters::new();
    let runs = steps.get("").unwrap_or(&none);
    let started = get(runs, Outcome::Started.as_str());
    let finished = get(runs, Outcome::Finished.as_str());
    let mut m = Map::new();
    m.insert("arm".into(), json!(name));
    m.insert("started".into(), json!(started));
    m.insert("finished".into(), json!(finished));
    m.insert("finish_rate".into(), rate(finished, started));
    let mut ended = finished;
    for o in [
        Outcome::HandedOff,
        Outcome::Moved,
        Outcome::TimedOut,
        Outcome::Invalid,
        Outcome::Dropped,
        Outcome::Errored,
    ] {
        let n = get(runs, o.as_str());
        ended = ended.saturating_add(n);
        m.insert(o.as_str().into(), json!(n));
    }
    m.insert("in_progress".into(), json!((started - ended).max(0)));
    let mean = (finished > 0).then(|| get(runs, FINISH_MS) as f64 / finished as f64 / 1000.0);
    m.insert("mean_seconds_to_finish".into(), json!(mean));
    // The flow's messages to the arm's conversations, over its finished runs.
    let cost = cost.unwrap_or(0);
    m.insert("cost".into(), json!(format_micros(cost)));
    m.insert("cost_micros".into(), json!(cost));
    let per = (finished > 0).then(|| format_micros(cost / finished));
    m.insert("cost_per_finished".into(), json!(per));
    let mut keys: Vec<&str> = order
        .iter()
        .map(String::as_str)
        .filter(|k| steps.contains_key(k))
        .collect();
    keys.extend(
        steps
            .keys()
            .copied()
            .filter(|k| !k.is_empty() && !order.iter().any(|o| o == k)),
    );
    let rows: Vec<Value> = keys
        .into_iter()
        .map(|k| {
            let c = &steps[k];
            let mut s = Map::new();
            s.insert("step".into(), json!(k));
            for w in StepCount::ALL {
                s.insert(w.as_str().into(), json!(get(c, w.as_str())));
            }
            let (entered, answered) = (get(c, "entered"), get(c, "answered"));
            s.insert("answer_rate".into(), rate(answered, entered));
            Value::Object(s)
        })
        .collect();
    m.insert("steps".into(), Value::Array(rows));
    m
}

/// The comparison of an arm with the first (`first`), as JSON.
fn comparison(first: (&str, i64, i64), arm: (&str, i64, i64)) -> Value {
    let p = |s: i64, n: i64| Proportion {
        successes: u64::try_from(s).unwrap_or(0),
        trials: u64::try_from(n).unwrap_or(0),
    };
    let c = stats::compare(p(first.1, first.2), p(arm.1, arm.2));
    let verdict = stats::verdict(first.0, arm.0, c.as_ref());
    let Some(c) = c else {
        return json!({ "versus": first.0, "verdict": verdict, "significant": false });
    };
    json!({
        "versus": first.0,
        "difference_points": c.difference * 100.0,
        "z": c.z,
        "p_value": c.p_value,
        "ci95_points": [c.ci_low * 100.0, c.ci_high * 100.0],
        "significant": c.p_value.is_some_and(|p| p < stats::ALPHA),
        "sample_needed_per_arm": c.sample_needed,
        "more_needed_per_arm": c.more_needed,
        "verdict": verdict,
    })
}

/// `GET …/insights/experiments`: every experiment counted in the period (of `flow` when
/// given), its arms compared.
pub fn report(set: &FlowSet, sums: &ArmInsightSums, costs: &Costs, period: &Period) -> Value {
    let stored = by_experiment(&sums.rows);
    let truncated = sums.truncated || stored.len() > MAX_EXPERIMENTS;
    let experiments: Vec<Value> = stored
        .iter()
        .take(MAX_EXPERIMENTS)
        .map(|(name, arms)| {
            let (flow_id, versions) = flow_of(name);
            let flow = set.get(flow_id).map(|f| f.as_ref());
            let counted: Vec<&str> = arms.keys().copied().collect();
            let order = arm_order(flow, name, versions, &counted);
            let steps: Vec<String> = flow
                .map(|f| {
                    super::report::ordered_steps(f)
                        .into_iter()
                        .map(|(k, _)| k)
                        .collect()
                })
                .unwrap_or_default();
            let mut first: Option<(String, i64, i64)> = None;
            let arms: Vec<Value> = order
                .iter()
                .map(|a| {
                    let cost = costs.get(&(name.to_string(), a.clone())).copied();
                    let mut m = arm_figures(a, arms.get(a.as_str()), &steps, cost);
                    let started = m["started"].as_i64().unwrap_or(0);
                    let finished = m["finished"].as_i64().unwrap_or(0);
                    match &first {
                        None => first = Some((a.clone(), finished, started)),
                        Some((f, fs, fn_)) => {
                            m.insert(
                                "comparison".into(),
                                comparison((f, *fs, *fn_), (a, finished, started)),
                            );
                        }
                    }
                    Value::Object(m)
                })
                .collect();
            json!({
                "experiment": name,
                "flow": flow_id,
                "kind": if versions { "versions" } else { "split" },
                "loaded": flow.is_some(),
                "arms": arms,
            })
        })
        .collect();
    let (since, until) = period.json();
    json!({
        "success": true,
        "since": since,
        "until": until,
        "experiments": experiments,
        "truncated": truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(experiment: &str, arm: &str, step: &str, what: &str, n: i64) -> ArmInsightRow {
        ArmInsightRow {
            experiment: experiment.into(),
            arm: arm.into(),
            step: step.into(),
            what: what.into(),
            n,
        }
    }

    #[test]
    fn arms_are_compared_with_the_first_and_read_in_plain_words() {
        let e = "welcome/opening";
        let sums = ArmInsightSums {
            rows: vec![
                row(e, "b", "", "started", 400),
                row(e, "b", "", "finished", 160),
                row(e, "b", "", FINISH_MS, 160 * 30_000),
                row(e, "b", "ask", "entered", 400),
                row(e, "b", "ask", "answered", 160),
                row(e, "a", "", "started", 400),
                row(e, "a", "", "finished", 120),
                row(e, "a", "", "timed_out", 200),
            ],
            truncated: false,
        };
        let period = Period {
            since: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            until: chrono::DateTime::from_timestamp(3600, 0).unwrap(),
        };
        let set = FlowSet::default();
        let costs = Costs::from([(("welcome/opening".to_string(), "b".to_string()), 3_200_000)]);
        let r = report(&set, &sums, &costs, &period);
        let x = &r["experiments"][0];
        assert_eq!(
            (x["flow"].as_str(), x["kind"].as_str()),
            (Some("welcome"), Some("split"))
        );
        // Not loaded: the arms in name order, `a` first.
        assert_eq!(x["arms"][0]["arm"], "a");
        assert_eq!(x["arms"][0]["in_progress"], 80);
        assert!(x["arms"][0].get("comparison").is_none());
        let b = &x["arms"][1];
        assert_eq!(b["mean_seconds_to_finish"], 30.0);
        // 3.20 over 160 finished: 0.02 each; no cost counted for a.
        assert_eq!(
            (b["cost"].as_str(), b["cost_per_finished"].as_str()),
            (Some("3.2"), Some("0.02"))
        );
        assert_eq!(x["arms"][0]["cost_micros"], 0);
        assert_eq!(b["steps"][0]["answer_rate"], 0.4);
        let c = &b["comparison"];
        assert_eq!(c["significant"], true);
        assert!((c["p_value"].as_f64().unwrap() - 0.003_027).abs() < 1e-6);
        assert_eq!(
            c["verdict"],
            "b finishes 10.0 points more often than a; a difference this large would appear by chance 0.3 % of the time"
        );
        assert_eq!(flow_of("welcome@version"), ("welcome", true));
    }

    #[test]
    fn a_flows_versions_are_read_against_current_and_bounded() {
        let e = "welcome@version";
        let mut rows = vec![
            row(e, "v2", "", "started", 30),
            row(e, "v2", "", "finished", 12),
            row(e, "current", "", "started", 100),
            row(e, "current", "", "finished", 50),
        ];
        // More experiments than one answer holds: cut, and said so.
        for i in 0..MAX_EXPERIMENTS + 5 {
            rows.push(row(&format!("zz{i:04}/s"), "a", "", "started", 1));
        }
        let sums = ArmInsightSums {
            rows,
            truncated: false,
        };
        let period = Period {
            since: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            until: chrono::DateTime::from_timestamp(3600, 0).unwrap(),
        };
        let r = report(&FlowSet::default(), &sums, &Costs::new(), &period);
        assert_eq!(r["truncated"], true);
        assert_eq!(r["experiments"].as_array().unwrap().len(), MAX_EXPERIMENTS);
        let x = &r["experiments"][0];
        assert_eq!(
            (x["experiment"].as_str(), x["kind"].as_str()),
            (Some(e), Some("versions"))
        );
        assert_eq!(x["arms"][0]["arm"], "current");
        let c = &x["arms"][1]["comparison"];
        assert_eq!(c["versus"], "current");
        assert_eq!(c["significant"], false);
        assert!(
            c["verdict"]
                .as_str()
                .unwrap()
                .starts_with("not sure yet: about "),
            "{c}"
        );
        assert_eq!(x["arms"][1]["cost_per_finished"], "0");
    }
}
