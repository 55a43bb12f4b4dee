//! `parley check`'s warnings about experiments (issue 58): a `split` whose arms all run the
//! same steps, and a candidate version that runs the same steps as the current one. Either
//! experiment would compare a thing with itself: every count would differ by chance alone.

use super::super::graph::successors;
use super::super::model::{Flow, Op, SplitSpec, Step};
use super::super::problem::{Problem, Severity};

/// Names each `split` of a flow's steps by the flow's id and its step's id
/// (`welcome/opening`), for the compiler: its `split` step sees the file's `id:` line only,
/// which a file written in YAML's flow style (`{id: welcome, …}`) does not have.
pub(in crate::flows) fn named_splits(mut steps: Vec<Step>, flow: &str) -> Vec<Step> {
    for step in &mut steps {
        if let (Op::Split(spec), Some(step_id)) = (&mut step.op, &step.id) {
            spec.experiment = format!("{flow}/{step_id}");
        }
    }
    steps
}

/// The most steps followed down one arm before giving up telling the arms apart.
const MAX_WALK: usize = 200;

/// Warns about every `split` of `flow` whose arms cannot be told apart.
pub fn check_splits(flow: &Flow, problems: &mut Vec<Problem>) {
    for (i, step) in flow.steps.iter().enumerate() {
        let Op::Split(spec) = &step.op else { continue };
        if arms_alike(&flow.steps, i, spec) {
            let names: Vec<String> = spec.arms.iter().map(|a| format!("`{}`", a.name)).collect();
            problems.push(Problem {
                file: flow.file.clone(),
                line: step.at.line.max(1),
                column: step.at.column.max(1),
                severity: Severity::Warning,
                message: format!(
                    "the arms {} of split `{}` all run the same steps: the experiment cannot tell them apart",
                    names.join(", "),
                    spec.experiment
                ),
                hint: Some(
                    "give each arm what it tries under `then:` (different messages or steps); an arm without `then:` goes straight on to the next step".into(),
                ),
            });
        }
    }
}

/// Warns when the candidate version `candidate` runs the same steps as `current`.
pub fn check_candidate(current: &Flow, candidate: &Flow, problems: &mut Vec<Problem>) {
    let same = current.steps.len() == candidate.steps.len()
        && current
            .steps
            .iter()
            .zip(&candidate.steps)
            .all(|(a, b)| signature(&a.op) == signature(&b.op));
    if same {
        problems.push(Problem {
            file: candidate.file.clone(),
            line: candidate.id_at.line.max(1),
            column: candidate.id_at.column.max(1),
            severity: Severity::Warning,
            message: format!(
                "the candidate `{}` of flow `{}` runs the same steps as the current version ({}): the rollout would compare a version with itself",
                candidate.candidate.as_deref().unwrap_or_default(),
                current.id,
                current.file
            ),
            hint: Some(format!(
                "change in {} what the new version should try, or remove the file if there is nothing to try",
                candidate.file
            )),
        });
    }
}

/// Whether every arm of the split at `at` runs the same steps up to where the arms meet
/// again (or where one of them branches, waits on another flow, or ends).
fn arms_alike(steps: &[Step], at: usize, spec: &SplitSpec) -> bool {
    let walks: Vec<Vec<usize>> = spec
        .arms
        .iter()
        .map(|a| walk(steps, a.target, at))
        .collect();
    // Where they meet: the first step of the first arm's walk that every walk reaches.
    let meet = walks.first().and_then(|first| {
        first
            .iter()
            .position(|s| walks.iter().all(|w| w.contains(s)))
            .map(|p| first[p])
    });
    let before = |w: &Vec<usize>| -> Vec<String> {
        w.iter()
            .take_while(|s| Some(**s) != meet)
            .map(|&s| signature(&steps[s].op))
            .collect()
    };
    let first = match walks.first() {
        Some(w) => before(w),
        None => return false,
    };
    walks.iter().skip(1).all(|w| before(w) == first)
}

/// The steps run from `from` on, jumps left out, until a step that may go several ways
/// (its own signature is then the last), the end, a step seen already, or the split itself.
fn walk(steps: &[Step], from: usize, split: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = from;
    while out.len() < MAX_WALK && at < steps.len() && at != split && !out.contains(&at) {
        let op = &steps[at].op;
        if let Op::Goto(t) = op {
            if out.contains(t) || *t == at {
                break;
            }
            at = *t;
            continue;
        }
        out.push(at);
        match successors(op, at).as_slice() {
            [next] => at = *next,
            _ => break,
        }
    }
    out
}

/// An op as text without the places it was written at, to compare two steps.
pub(super) fn signature(op: &Op) -> String {
    let text = format!("{op:?}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find("Pos {") {
        out.push_str(&rest[..i]);
        match rest[i..].find('}') {
            Some(end) => rest = &rest[i + end + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}
