//! Finds free-form messages that can be sent longer than the window after the customer's
//! last possible message — after long delays or timeouts — and that say nothing about what
//! to do then (`if_window_closed`). Those would bounce with error 131047. An `agent` step
//! without `if_window_closed` is a warning (its replies answer the customer, but a slow
//! model can miss the window), an error when its `opening` can come after the window.

use super::model::{ContentSpec, FallbackSpec, Flow, Op, SendSpec};
use super::problem::{Problem, Severity};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Checks every flow; a flow that `goto_flow` reaches starts as late as the step that
/// jumps to it (a scheduled flow's `goto_flow: promo` makes `promo` a scheduled flow too).
pub fn check_all(flows: &[Arc<Flow>], window: Duration, problems: &mut Vec<Problem>) {
    let cap = window * 10;
    let index: HashMap<&str, usize> = flows
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id.as_str(), i))
        .collect();
    // The latest start of each flow, and the flow whose jump gave it.
    let mut starts: Vec<(Duration, Option<usize>)> = flows
        .iter()
        .map(|f| (own_start(f, window, cap), None))
        .collect();
    // Only a flow that jumps passes a start on, and only again once its own start grew:
    // a worklist, so a load of thousands of flows walks each about once. Starts only grow,
    // up to `cap`, so it ends.
    let jumps = |i: usize| {
        flows[i]
            .steps
            .iter()
            .any(|s| matches!(s.op, Op::GotoFlow(_)))
    };
    let mut todo: Vec<usize> = (0..flows.len()).filter(|&i| jumps(i)).collect();
    let mut queued = vec![false; flows.len()];
    for &i in &todo {
        queued[i] = true;
    }
    while let Some(i) = todo.pop() {
        queued[i] = false;
        let worst = arrivals(&flows[i], starts[i].0, cap);
        for (step, t) in flows[i].steps.iter().zip(&worst) {
            let (Op::GotoFlow(target), Some(t)) = (&step.op, t) else {
                continue;
            };
            let Some(&j) = index.get(target.as_str()) else {
                continue;
            };
            if *t > starts[j].0 {
                starts[j] = (*t, Some(i));
                if !queued[j] && jumps(j) {
                    queued[j] = true;
                    todo.push(j);
                }
            }
        }
    }
    for (flow, &(start, via)) in flows.iter().zip(&starts) {
        let via = via.map(|i| flows[i].id.as_str());
        report(
            flow,
            window,
            &arrivals(flow, start, cap),
            cap,
            via,
            problems,
        );
    }
}

/// For each step of `flow` on its own (not as another flow's `goto_flow` reaches it):
/// whether it can send a free-form message after the window has closed with nothing said
/// about what to do then, the steps `check_all` reports. The studio marks them.
pub fn late_free_form(flow: &Flow, window: Duration) -> Vec<bool> {
    let cap = window * 10;
    let worst = arrivals(flow, own_start(flow, window, cap), cap);
    flow.steps
        .iter()
        .zip(&worst)
        .map(|(step, t)| t.is_some_and(|t| t >= window) && sends_late(&step.op))
        .collect()
}

/// Whether a step that runs after the window has closed sends a free-form message that
/// has no `if_window_closed`.
fn sends_late(op: &Op) -> bool {
    let sends: Vec<&SendSpec> = match op {
        Op::Send(s) => vec![s],
        Op::Ask(a) => a.prompt.iter().collect(),
        Op::Form(f) => vec![&f.message],
        Op::Handoff { message, .. } => message.iter().map(|m| m.as_ref()).collect(),
        Op::Agent(a) => {
            return a.opening.is_some() && matches!(a.if_window_closed, FallbackSpec::Undeclared)
        }
        _ => vec![],
    };
    sends.iter().any(|s| {
        !matches!(s.content, ContentSpec::Template(_))
            && matches!(s.if_window_closed, FallbackSpec::Undeclared)
    })
}

/// How long after the customer's last message a flow can start: a scheduled flow may
/// reach a customer who wrote long ago; a window-closing flow starts that long before the
/// window closes; any other right after a customer message.
fn own_start(flow: &Flow, window: Duration, cap: Duration) -> Duration {
    if flow.schedule.is_some() {
        return cap;
    }
    flow.triggers
        .iter()
        .filter_map(|t| match t.kind {
            super::model::TriggerKind::WindowClosing { before } => {
                Some(window.saturating_sub(before))
            }
            _ => None,
        })
        .max()
        .unwrap_or(Duration::ZERO)
}

/// The longest time since the customer's last message on arrival at each step, for a
/// flow that starts `start` after it. Capped at `cap` (just past the window) so loops end.
fn arrivals(flow: &Flow, start: Duration, cap: Duration) -> Vec<Option<Duration>> {
    let mut worst: Vec<Option<Duration>> = vec![None; flow.steps.len()];
    let mut todo = vec![(0usize, start)];
    while let Some((i, t)) = todo.pop() {
        let Some(step) = flow.steps.get(i) else {
            continue;
        };
        let t = t.min(cap);
        if worst[i].is_some_and(|w| w >= t) {
            continue;
        }
        worst[i] = Some(t);
        let next = |j: usize, d: Duration| (j, t + d);
        match &step.op {
            Op::Ask(a) => {
                // An answer is a new customer message; a timeout is not.
                todo.push((i + 1, Duration::ZERO));
                if let Some(j) = a.on_invalid {
                    todo.push((j, Duration::ZERO));
                }
                if let (Some(j), Some(d)) = (a.on_timeout, a.timeout) {
                    todo.push(next(j, d));
                }
            }
            Op::Form(f) => {
                // A submission is a new customer message; a timeout is not.
                todo.push((i + 1, Duration::ZERO));
                if let Some(j) = f.on_invalid {
                    todo.push((j, Duration::ZERO));
                }
                if let (Some(j), Some(d)) = (f.on_timeout, f.timeout) {
                    todo.push(next(j, d));
                }
            }
            Op::Agent(_) => {
                // An agent leaves its step on a turn, which answers a customer message.
                for j in super::graph::successors(&step.op, i) {
                    todo.push((j, Duration::ZERO));
                }
            }
            Op::Delay(d) => todo.push(next(i + 1, *d)),
            op => {
                for j in super::graph::successors(op, i) {
                    todo.push((j, t));
                }
            }
        }
    }
    worst
}

/// The problems of one flow, given the worst arrival time at each of its steps; `via`
/// names the flow whose `goto_flow` made it start late.
fn report(
    flow: &Flow,
    window: Duration,
    worst: &[Option<Duration>],
    cap: Duration,
    via: Option<&str>,
    problems: &mut Vec<Problem>,
) {
    for (i, step) in flow.steps.iter().enumerate() {
        let Some(t) = worst[i] else { continue };
        if let Op::Agent(a) = &step.op {
            if matches!(a.if_window_closed, FallbackSpec::Undeclared)
                && !(t >= window && a.opening.is_some())
            {
                problems.push(Problem {
                    file: flow.file.clone(),
                    line: step.at.line,
                    column: step.at.column,
                    severity: Severity::Warning,
                    message: "this agent has no `if_window_closed`: a reply that leaves after the window has closed (a slow model, a provider outage) fails and the customer never reads it".into(),
                    hint: Some("add `if_window_closed: { template: <approved template>, variables: {…} }`, or `if_window_closed: skip`".into()),
                });
                continue;
            }
        }
        if t < window {
            continue;
        }
        let sends: Vec<&SendSpec> = match &step.op {
            Op::Send(s) => vec![s],
            Op::Ask(a) => a.prompt.iter().collect(),
            Op::Form(f) => vec![&f.message],
            Op::Handoff { message, .. } => message.iter().map(|m| m.as_ref()).collect(),
            _ => vec![],
        };
        if let Op::Agent(a) = &step.op {
            if a.opening.is_some() && matches!(a.if_window_closed, FallbackSpec::Undeclared) {
                problems.push(late_message(flow, step.at, t, cap, window, via));
            }
        }
        for s in sends {
            let freeform = !matches!(s.content, ContentSpec::Template(_));
            if freeform && matches!(s.if_window_closed, FallbackSpec::Undeclared) {
                problems.push(late_message(flow, step.at, t, cap, window, via));
            }
        }
    }
}

/// A free-form message that can leave `t` after the customer's last message.
fn late_message(
    flow: &Flow,
    at: super::problem::Pos,
    t: Duration,
    cap: Duration,
    window: Duration,
    via: Option<&str>,
) -> Problem {
    let when = if t >= cap {
        "any time".to_string()
    } else {
        format!("{} or more", hours(t))
    };
    let reached = via
        .map(|from| format!(" (this flow is reached by `goto_flow` from `{from}`)"))
        .unwrap_or_default();
    Problem {
        file: flow.file.clone(),
        line: at.line,
        column: at.column,
        severity: Severity::Error,
        message: format!(
            "this message can be sent {when} after the customer's last message, when the {} window has closed and WhatsApp refuses free-form messages{reached}",
            hours(window)
        ),
        hint: Some("add `if_window_closed: { template: <approved template>, variables: {…} }`, or `if_window_closed: skip`".into()),
    }
}

/// `25h`, `90m`, `45s`: durations as authors write them.
fn hours(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}
