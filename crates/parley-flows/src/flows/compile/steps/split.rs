//! The `split` step (issue 58): weighted arms, one per contact, for experiments.
//!
//! ```yaml
//! - id: opening
//!   split:
//!     short: { weight: 50, then: short_greeting }
//!     long: { weight: 50, then: [ { send: "Hello and welcome!" } ] }
//! ```
//!
//! The experiment is named `<flow id>/<step id>`; an arm without `then` goes on to the
//! next step.

use super::super::super::model::{SplitArm, SplitSpec};
use super::*;

/// The split's own settings: none, its keys are the arms' names.
pub const SPLIT_KEYS: &[&str] = &[];

/// What one arm may hold.
pub const ARM_KEYS: &[&str] = &["weight", "then"];

pub const MIN_ARMS: usize = 2;
pub const MAX_ARMS: usize = 20;
pub const MAX_WEIGHT: i64 = 10_000;
/// An arm's name is shown in insights and typed in the contact's `experiment_arms`.
pub const MAX_ARM_NAME: usize = 40;

pub(super) fn split_step(
    b: &mut Builder<'_>,
    a: &Action<'_>,
    problems: &mut Problems,
) -> Option<Op> {
    let at = a
        .step
        .keys()
        .find(|k| k.as_str() == "split")
        .map(yaml::scalar_pos)
        .unwrap_or_else(|| yaml::pos(a.value));
    let Some(step_id) = a.step.get_node("id").and_then(|n| match n {
        YamlNode::Scalar(s) => Some(s.as_str().to_string()),
        _ => None,
    }) else {
        problems.error(
            at,
            "a `split` needs an `id:`: it names the experiment in insights",
            Some("add `id: opening` (any one word) on the step's first line, next to `split:`; the experiment is then `<flow id>/opening`".into()),
        );
        return None;
    };
    let m = match a.value {
        YamlNode::Mapping(m) if !m.is_empty() => m,
        other => {
            problems.error(
                yaml::pos(other),
                "a `split` lists its arms, each with a `weight:`",
                Some("write e.g. `short: { weight: 50 }` and `long: { weight: 50, then: long_greeting }` under `split:`".into()),
            );
            return None;
        }
    };
    if m.len() < MIN_ARMS || m.len() > MAX_ARMS {
        problems.error(
            yaml::pos(a.value),
            format!(
                "this `split` has {} arm{}; a split has {MIN_ARMS} to {MAX_ARMS}",
                m.len(),
                if m.len() == 1 { "" } else { "s" }
            ),
            Some(if m.len() < MIN_ARMS {
                "add a second arm; an arm without `then:` goes on to the next step (a control arm)".into()
            } else {
                "keep the arms you mean to compare; many arms need many contacts each to tell them apart".into()
            }),
        );
        return None;
    }
    let mut arms = Vec::with_capacity(m.len());
    let mut ok = true;
    for (i, (key, node)) in m.iter().enumerate() {
        match arm(b, a.index, i, key, node, problems) {
            Some(arm) => arms.push(arm),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    let flow = yaml::id_line(b.source).unwrap_or_default();
    Some(Op::Split(Box::new(SplitSpec {
        experiment: format!("{flow}/{step_id}"),
        arms,
    })))
}

/// One arm: its name, `weight` and `then` (`Slot::Case(i)` of the split at `from`).
fn arm(
    b: &mut Builder<'_>,
    from: usize,
    i: usize,
    key: &marked_yaml::types::MarkedScalarNode,
    node: &YamlNode,
    problems: &mut Problems,
) -> Option<SplitArm> {
    let name = key.as_str();
    let at = yaml::scalar_pos(key);
    if name.is_empty()
        || name.chars().count() > MAX_ARM_NAME
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        problems.error(
            at,
            format!("the arm name `{name}` must be one word (letters, digits, - and _), at most {MAX_ARM_NAME} characters"),
            Some("name arms by what they try, like `short` and `long`".into()),
        );
        return None;
    }
    let map = yaml::as_map(node, &format!("the arm `{name}`"), problems)?;
    yaml::check_keys(map, ARM_KEYS, &format!("the arm `{name}`"), problems);
    let Some(w_node) = map.get_node("weight") else {
        problems.error(
            at,
            format!("the arm `{name}` needs a `weight:`"),
            Some(format!("write `{name}: {{ weight: 50 }}`; weights are relative: 50 and 50 is half each, 70 and 30 is 70 % and 30 %")),
        );
        return None;
    };
    let weight = yaml::as_int(w_node, &format!("the weight of `{name}`"), problems)?;
    if !(1..=MAX_WEIGHT).contains(&weight) {
        problems.error(
            yaml::pos(w_node),
            format!("the weight of `{name}` is {weight}; a weight is a whole number from 1 to {MAX_WEIGHT}"),
            Some("to stop sending contacts down an arm, remove the arm".into()),
        );
        return None;
    }
    let target = match map.get_node("then") {
        Some(n) => b.branch(n, from, Slot::Case(i), problems),
        None => from + 1,
    };
    Some(SplitArm {
        name: name.to_string(),
        weight: weight as u32,
        target,
        at,
    })
}
