//! The shape of a compiled flow: which steps may follow which, and which flows its steps
//! go to. A leaf of `flows/` (it reads only the model), which the compiler, the checks
//! and the flow set all read.

use super::model::{Op, Step};
use super::problem::Pos;

/// Steps that may run right after step `i`.
pub fn successors(op: &Op, i: usize) -> Vec<usize> {
    match op {
        Op::Goto(t) => vec![*t],
        Op::End | Op::GotoFlow(_) => vec![],
        Op::If {
            then, otherwise, ..
        } => vec![*then, *otherwise],
        Op::Split(s) => s.arms.iter().map(|a| a.target).collect(),
        Op::Switch { cases, default, .. } => {
            cases.iter().map(|(_, t)| *t).chain([*default]).collect()
        }
        Op::Ask(a) => [Some(i + 1), a.on_timeout, a.on_invalid]
            .into_iter()
            .flatten()
            .collect(),
        Op::Form(f) => [Some(i + 1), f.on_timeout, f.on_invalid]
            .into_iter()
            .flatten()
            .collect(),
        Op::Script { on_error, .. } => [Some(i + 1), *on_error].into_iter().flatten().collect(),
        Op::Http(h) => [Some(i + 1), h.on_error].into_iter().flatten().collect(),
        Op::Agent(a) => [Some(i + 1), a.on_error.goto, a.on_budget.goto]
            .into_iter()
            .flatten()
            .collect(),
        _ => vec![i + 1],
    }
}

/// The flows a program's steps go to (`goto_flow`) and its agents' `goto_flow` tools may
/// start, each with where it is written.
pub fn goto_targets(steps: &[Step]) -> Vec<(&String, Pos)> {
    let mut targets = Vec::new();
    for step in steps {
        match &step.op {
            Op::GotoFlow(target) => targets.push((target, step.at)),
            Op::Agent(a) => targets.extend(
                a.tools
                    .goto_flow
                    .iter()
                    .zip(a.tools.goto_flow_at.iter().copied()),
            ),
            _ => {}
        }
    }
    targets
}
