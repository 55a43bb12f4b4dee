//! Loops that never wait for the customer: steps that lead back to themselves with no
//! `ask`, `delay` or `handoff` on the way round. With no way out at all the run can only
//! be stopped by the engine's step limit, so it is an error; with a way out through a
//! condition it may be a counted retry, so it is a warning. Loops through an `ask` are
//! how menus work and pass.

use super::super::model::{Op, Origin, Step};
use super::super::problem::Problems;
use crate::flows::graph::successors;
use crate::flows::MAX_STEPS_PER_EVENT;

/// A step that waits for the customer or for time: a loop through it is not runaway.
pub(crate) fn waits(op: &Op) -> bool {
    matches!(
        op,
        Op::Ask(_) | Op::Form(_) | Op::Agent(_) | Op::Delay(_) | Op::Handoff { .. }
    )
}

pub fn check(steps: &[Step], problems: &mut Problems) {
    let n = steps.len();
    let waits = |i: usize| waits(&steps[i].op);
    // The graph without the waiting steps: a cycle left in it never waits.
    let next: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            if waits(i) {
                return Vec::new();
            }
            successors(&steps[i].op, i)
                .into_iter()
                .filter(|&t| t < n && !waits(t))
                .collect()
        })
        .collect();
    let components = components(&next);
    long_runs(steps, &next, &components, problems);
    for component in components {
        let looped = component.len() > 1 || next[component[0]].contains(&component[0]);
        if !looped {
            continue;
        }
        let inside = |t: usize| component.binary_search(&t).is_ok();
        let exit = component.iter().any(|&i| {
            successors(&steps[i].op, i).into_iter().any(|t| !inside(t))
                || matches!(steps[i].op, Op::End | Op::GotoFlow(_))
        });
        let at = component
            .iter()
            .copied()
            .find(|&i| matches!(steps[i].op, Op::Goto(_)) && steps[i].origin != Origin::Added)
            .unwrap_or(component[0]);
        let mut ids: Vec<&str> = component
            .iter()
            .filter_map(|&i| steps[i].id.as_deref())
            .collect();
        ids.sort_unstable();
        let named = if ids.is_empty() {
            String::new()
        } else {
            format!(" (through {})", ids.join(", "))
        };
        if exit {
            problems.warning(
                steps[at].at,
                format!("this loop{named} can go round without waiting for the customer"),
                Some(format!("make sure its condition ends it; a run stops after {MAX_STEPS_PER_EVENT} steps in a row. Add an `ask` or `delay` on the way round if it should wait")),
            );
        } else {
            problems.error(
                steps[at].at,
                format!("this loop{named} goes round forever without waiting for the customer"),
                Some("add an `ask` or a `delay` on the way round, or a condition (`if`) that leaves the loop".into()),
            );
        }
    }
}

/// Warns about a flow that can run more steps in a row than one event may
/// (`MAX_STEPS_PER_EVENT`) without waiting, not counting loops (`check` judges those):
/// the longest way through the steps that do not wait, walked from the last component
/// of `components` (Kosaraju's order puts a component before the ones it leads to).
fn long_runs(
    steps: &[Step],
    next: &[Vec<usize>],
    components: &[Vec<usize>],
    problems: &mut Problems,
) {
    if steps.len() <= MAX_STEPS_PER_EVENT {
        return;
    }
    let mut component_of = vec![0; steps.len()];
    for (c, members) in components.iter().enumerate() {
        for &v in members {
            component_of[v] = c;
        }
    }
    // The most steps run from each step on, itself included, until a wait or the end.
    let mut longest = vec![1usize; steps.len()];
    for members in components.iter().rev() {
        for &v in members {
            longest[v] = 1 + next[v]
                .iter()
                .filter(|&&w| component_of[w] != component_of[v])
                .map(|&w| longest[w])
                .max()
                .unwrap_or(0);
        }
    }
    // The head of the longest run: the first step with the most.
    let Some((head, &most)) = longest
        .iter()
        .enumerate()
        .rev()
        .max_by_key(|&(_, n)| *n)
        .filter(|&(_, &n)| n > MAX_STEPS_PER_EVENT)
    else {
        return;
    };
    problems.warning(
        steps[head].at,
        format!(
            "from here the flow can run {most} steps in a row without waiting, and one message runs at most {MAX_STEPS_PER_EVENT}: the run would stop with an error on the way"
        ),
        Some(format!(
            "put an `ask`, a `delay` or a `handoff` within every {MAX_STEPS_PER_EVENT} steps"
        )),
    );
}

/// Strongly connected components (Kosaraju, without recursion), each sorted.
pub(crate) fn components(next: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = next.len();
    let mut order = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    for start in 0..n {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        let mut stack = vec![(start, 0usize)];
        while let Some((v, k)) = stack.pop() {
            if let Some(&w) = next[v].get(k) {
                stack.push((v, k + 1));
                if !seen[w] {
                    seen[w] = true;
                    stack.push((w, 0));
                }
            } else {
                order.push(v);
            }
        }
    }
    let mut prev = vec![Vec::new(); n];
    for (v, ws) in next.iter().enumerate() {
        for &w in ws {
            prev[w].push(v);
        }
    }
    let mut assigned = vec![false; n];
    let mut out = Vec::new();
    for &root in order.iter().rev() {
        if assigned[root] {
            continue;
        }
        assigned[root] = true;
        let mut component = vec![root];
        let mut todo = vec![root];
        while let Some(v) = todo.pop() {
            for &w in &prev[v] {
                if !assigned[w] {
                    assigned[w] = true;
                    component.push(w);
                    todo.push(w);
                }
            }
        }
        component.sort_unstable();
        out.push(component);
    }
    out
}
