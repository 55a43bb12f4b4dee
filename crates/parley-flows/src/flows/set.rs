//! A loaded set of flows with its trigger index, and the checks that look across flows:
//! duplicate ids, keywords claimed twice at the same priority, `goto_flow` targets (steps
//! and agents' tools), and
//! free-form messages that could be sent after the customer-service window closed.
//!
//! Candidate versions (issue 58): a second file with the same id whose top says
//! `candidate: v2` is kept beside the flow's main file (`FlowSet::candidate`), served to the
//! rollout's share of new conversations by the engine. Triggers are the main file's only: a
//! candidate changes what a flow does, not when it starts.

use super::compile::Broken;
use super::graph::goto_targets;
use super::model::{Flow, KeywordMode, Op, TriggerKind};
use super::normalize::normalize;
use super::problem::{Pos, Problem, Severity};
use super::triggers::matcher::{MatchInput, Matched, TriggerIndex};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub(super) mod experiment_check;

/// The longest candidate label (`candidate: v2`): it is shown in insights and typed in
/// the contact's `experiment_arms`.
pub const MAX_CANDIDATE_LABEL: usize = 40;

#[derive(Default)]
pub struct FlowSet {
    flows: Vec<Arc<Flow>>,
    by_id: HashMap<String, usize>,
    /// Each flow's candidate version, by flow id.
    candidates: HashMap<String, Arc<Flow>>,
    index: TriggerIndex,
}

impl std::fmt::Debug for FlowSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowSet")
            .field("flows", &self.flows.len())
            .finish()
    }
}

impl FlowSet {
    /// Builds the set; cross-flow problems are appended to `problems`. `broken` are the
    /// files that did not compile: their ids count as flows that exist, and their own
    /// `goto_flow` targets are checked too.
    pub fn build(
        flows: Vec<Flow>,
        broken: &[Broken],
        window: Duration,
        problems: &mut Vec<Problem>,
    ) -> Self {
        let broken: Vec<&Broken> = broken.iter().collect();
        Self::build_shared(
            flows.into_iter().map(Arc::new).collect(),
            &broken,
            window,
            problems,
        )
    }

    /// As `build`, from flows compiled earlier and kept (the studio keeps every file's
    /// compiled flow between keystrokes, and rebuilds the set from them).
    pub fn build_shared(
        flows: Vec<Arc<Flow>>,
        broken: &[&Broken],
        window: Duration,
        problems: &mut Vec<Problem>,
    ) -> Self {
        let mut by_id: HashMap<String, usize> = HashMap::new();
        let mut kept: Vec<Arc<Flow>> = Vec::new();
        let (flows, candidates) = split_candidates(flows, problems);
        for flow in flows {
            if let Some(&first) = by_id.get(&flow.id) {
                let other = &kept[first];
                // Said in both files: the file just written may be either of them.
                for (here, there, how) in
                    [(&*flow, &**other, "already"), (&**other, &*flow, "also")]
                {
                    problems.push(problem(
                        &here.file,
                        here.id_at,
                        format!(
                            "the flow id `{}` is {how} used by {}:{}",
                            flow.id, there.file, there.id_at.line
                        ),
                        Some("every flow needs its own id: rename one of them".into()),
                    ));
                }
                continue;
            }
            by_id.insert(flow.id.clone(), kept.len());
            kept.push(flow);
        }
        keyword_conflicts(&kept, problems);
        let candidates = pair_candidates(candidates, &kept, &by_id, problems);
        let mut ids: Vec<&str> = by_id.keys().map(String::as_str).collect();
        ids.extend(broken.iter().filter_map(|b| b.id.as_deref()));
        ids.sort_unstable();
        let gotos = kept
            .iter()
            .chain(candidates.values())
            .flat_map(|f| {
                goto_targets(&f.steps)
                    .into_iter()
                    .map(|(t, at)| (&f.file, t, at))
            })
            .chain(
                broken
                    .iter()
                    .flat_map(|b| b.gotos.iter().map(move |(t, at)| (&b.file, t, *at))),
            );
        for (file, target, at) in gotos {
            if ids.binary_search(&target.as_str()).is_err() {
                let hint = super::problem::did_you_mean(target, &ids)
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| "check the `id:` at the top of the flow you want".into());
                problems.push(problem(
                    file,
                    at,
                    format!("there is no flow with id `{target}`"),
                    Some(hint),
                ));
            }
        }
        super::window_check::check_all(&kept, window, problems);
        candidates_window_check(&kept, &candidates, window, problems);
        loops_across_flows(&kept, problems);
        for flow in kept.iter().chain(candidates.values()) {
            super::cost_check::check(flow, problems);
            experiment_check::check_splits(flow, problems);
        }
        let index = TriggerIndex::build(&kept);
        Self {
            flows: kept,
            by_id,
            candidates,
            index,
        }
    }

    /// The candidate version of flow `id` (`candidate:`), if it has one.
    pub fn candidate(&self, id: &str) -> Option<&Arc<Flow>> {
        self.candidates.get(id)
    }

    /// Every candidate version, in no particular order.
    pub fn candidates(&self) -> impl Iterator<Item = &Arc<Flow>> {
        self.candidates.values()
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Flow>> {
        self.by_id.get(id).map(|&i| &self.flows[i])
    }

    pub fn flows(&self) -> &[Arc<Flow>] {
        &self.flows
    }

    pub fn best_match(&self, input: &MatchInput<'_>) -> Option<Matched> {
        self.index.best(&self.flows, input)
    }
}

/// The window check of the candidates: each in place of its flow's main file, their own
/// problems only (the others' were said with the main files).
fn candidates_window_check(
    kept: &[Arc<Flow>],
    candidates: &HashMap<String, Arc<Flow>>,
    window: Duration,
    problems: &mut Vec<Problem>,
) {
    if candidates.is_empty() {
        return;
    }
    let swapped: Vec<Arc<Flow>> = kept
        .iter()
        .map(|f| candidates.get(&f.id).unwrap_or(f).clone())
        .collect();
    let mut found = Vec::new();
    super::window_check::check_all(&swapped, window, &mut found);
    problems.extend(
        found
            .into_iter()
            .filter(|p| candidates.values().any(|c| c.file == p.file)),
    );
}

/// Separates the candidate versions (`candidate:`) from the main files; a label that
/// cannot name an arm is an error and its file is left out.
fn split_candidates(
    flows: Vec<Arc<Flow>>,
    problems: &mut Vec<Problem>,
) -> (Vec<Arc<Flow>>, Vec<Arc<Flow>>) {
    let (candidates, mains): (Vec<_>, Vec<_>) =
        flows.into_iter().partition(|f| f.candidate.is_some());
    let candidates = candidates
        .into_iter()
        .filter(|f| {
            let label = f.candidate.as_deref().unwrap_or_default();
            let fine = !label.is_empty()
                && label.chars().count() <= MAX_CANDIDATE_LABEL
                && label != crate::domain::experiment::CURRENT_ARM
                && label
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !fine {
                problems.push(problem(
                    &f.file,
                    f.id_at,
                    format!("the candidate label `{label}` must be one word (letters, digits, -, _ and .), at most {MAX_CANDIDATE_LABEL} characters, and not `current`"),
                    Some("name the version by what it is, like `candidate: v2`".into()),
                ));
            }
            fine
        })
        .collect();
    (mains, candidates)
}

/// Pairs each candidate with its flow's main file: a candidate with no main file, or a
/// second candidate of one flow, is an error. Warns about a candidate that runs the same
/// steps as its main file.
fn pair_candidates(
    candidates: Vec<Arc<Flow>>,
    kept: &[Arc<Flow>],
    by_id: &HashMap<String, usize>,
    problems: &mut Vec<Problem>,
) -> HashMap<String, Arc<Flow>> {
    let mut paired: HashMap<String, Arc<Flow>> = HashMap::new();
    let mut refused: Vec<String> = Vec::new();
    for flow in candidates {
        let Some(&main) = by_id.get(&flow.id) else {
            problems.push(problem(
                &flow.file,
                flow.id_at,
                format!(
                    "this file is a candidate version of flow `{}`, but no file holds its current version",
                    flow.id
                ),
                Some(format!(
                    "a candidate is tried beside the flow's main file (the one without `candidate:`); remove `candidate:` to make this file flow `{}`",
                    flow.id
                )),
            ));
            continue;
        };
        if let Some(other) = paired.get(&flow.id) {
            for (here, there) in [(&flow, other), (other, &flow)] {
                problems.push(problem(
                    &here.file,
                    here.id_at,
                    format!(
                        "flow `{}` has two candidate versions: {} and {}",
                        flow.id, here.file, there.file
                    ),
                    Some("a flow has at most one candidate: remove `candidate:` from one (or the file), or promote one first".into()),
                ));
            }
            refused.push(flow.id.clone());
            continue;
        }
        experiment_check::check_candidate(&kept[main], &flow, problems);
        paired.insert(flow.id.clone(), flow);
    }
    for id in refused {
        paired.remove(&id);
    }
    paired
}

/// Flows that `goto_flow` each other round in a circle without a step that waits (an
/// `ask`, a `delay`…) on the way: one customer message would send message after message
/// until the engine's step limit. The loops inside one flow are `compile::loops`'s.
fn loops_across_flows(flows: &[Arc<Flow>], problems: &mut Vec<Problem>) {
    use super::compile::loops;
    use super::graph::successors;
    let index: HashMap<&str, usize> = flows
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id.as_str(), i))
        .collect();
    // Every step of every flow is a node; a flow's steps start at `offset[f]`.
    let mut offset = Vec::with_capacity(flows.len() + 1);
    let mut at = 0;
    for f in flows {
        offset.push(at);
        at += f.steps.len();
    }
    let mut node_of: Vec<(usize, usize)> = Vec::with_capacity(at);
    for (f, flow) in flows.iter().enumerate() {
        node_of.extend((0..flow.steps.len()).map(|s| (f, s)));
    }
    let start_of = |target: &str| {
        let f = *index.get(target)?;
        let first = flows[f].steps.first()?;
        (!loops::waits(&first.op)).then_some(offset[f])
    };
    let next: Vec<Vec<usize>> = node_of
        .iter()
        .map(|&(f, s)| {
            let steps = &flows[f].steps;
            match &steps[s].op {
                op if loops::waits(op) => Vec::new(),
                Op::GotoFlow(target) => start_of(target).into_iter().collect(),
                op => successors(op, s)
                    .into_iter()
                    .filter(|&t| t < steps.len() && !loops::waits(&steps[t].op))
                    .map(|t| offset[f] + t)
                    .collect(),
            }
        })
        .collect();
    for component in loops::components(&next) {
        let jumps: Vec<usize> = component
            .iter()
            .copied()
            .filter(|&v| {
                let (f, s) = node_of[v];
                matches!(flows[f].steps[s].op, Op::GotoFlow(_))
            })
            .collect();
        let Some(&first_jump) = jumps.first() else {
            continue; // a loop inside one flow: reported with that flow
        };
        if !next[first_jump]
            .iter()
            .any(|t| component.binary_search(t).is_ok())
        {
            continue;
        }
        let inside = |t: usize| component.binary_search(&t).is_ok();
        let exit = component.iter().any(|&v| {
            let (f, s) = node_of[v];
            let op = &flows[f].steps[s].op;
            matches!(op, Op::End)
                || match op {
                    Op::GotoFlow(_) => next[v].iter().all(|&t| !inside(t)),
                    _ => successors(op, s)
                        .into_iter()
                        .any(|t| t >= flows[f].steps.len() || !inside(offset[f] + t)),
                }
        });
        let mut names: Vec<&str> = component
            .iter()
            .map(|&v| flows[node_of[v].0].id.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        let (f, s) = node_of[first_jump];
        let through = format!(
            "{} {}",
            if names.len() == 1 { "flow" } else { "flows" },
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut p = problem(
            &flows[f].file,
            flows[f].steps[s].at,
            format!("this `goto_flow` goes round through {through} without waiting for the customer"),
            Some("add an `ask` or a `delay` in one of them, or a condition (`if`) that ends the round; one message would otherwise send a message at every turn, up to the 200-step limit".into()),
        );
        if exit {
            p.severity = Severity::Warning;
            p.message = format!(
                "this `goto_flow` can go round through {through} without waiting for the customer"
            );
            p.hint = Some("make sure a condition ends the round; a run stops after 200 steps in a row. Add an `ask` or `delay` on the way if it should wait".into());
        }
        problems.push(p);
    }
}

fn problem(file: &str, at: Pos, message: String, hint: Option<String>) -> Problem {
    Problem {
        file: file.to_string(),
        line: at.line.max(1),
        column: at.column.max(1),
        severity: Severity::Error,
        message,
        hint,
    }
}

/// Two flows claiming the same keyword at the same priority: which one answers would
/// depend on file names, so it is an error.
fn keyword_conflicts(flows: &[Arc<Flow>], problems: &mut Vec<Problem>) {
    let mut claimed: HashMap<(String, i64, KeywordMode), (usize, String)> = HashMap::new();
    for (fi, flow) in flows.iter().enumerate() {
        for t in &flow.triggers {
            let TriggerKind::Keyword { words, mode } = &t.kind else {
                continue;
            };
            let mode = if *mode == KeywordMode::Whole {
                KeywordMode::FirstWord
            } else {
                *mode
            };
            for w in words {
                let key = (normalize(w), flow.priority, mode);
                match claimed.get(&key) {
                    Some((other, other_word)) if *other != fi => problems.push(problem(
                        &flow.file,
                        t.at,
                        format!(
                            "the keyword `{w}` is also claimed by flow `{}` ({}, as `{other_word}`) at the same priority {}",
                            flows[*other].id, flows[*other].file, flow.priority
                        ),
                        Some("keep the keyword in one flow, or give one of them a higher `priority:`".into()),
                    )),
                    Some(_) => {}
                    None => {
                        claimed.insert(key, (fi, w.clone()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
