//! A flow drawn as a graph from its compiled form, for the `/studio` page: the steps the
//! author wrote as nodes (with where each is written, so the page can follow the cursor
//! both ways), labelled edges for every way one step leads to another (`next`, `goto`,
//! `if` and `switch` branches, `ask` answers, invalid answers and timeouts, `on_error`,
//! the template sent once the window has closed, an agent's tools), the triggers and the
//! schedule as entries, and the steps no path reaches or that can send a free-form
//! message after the window has closed marked.
//!
//! Rooms: `shape` (what a drawing is made of), `labels` (the words on it), `edges` (the
//! arrows). It reads the compiled flow only and never fails.

mod edges;
mod labels;
mod shape;
#[cfg(test)]
mod tests;

pub use edges::{land, node_id};
pub use shape::{Drawing, Edge, EdgeKind, Entry, Node};

use crate::flows::{graph, Flow, Op, Origin};
use std::time::Duration;

/// WhatsApp's customer-service window, for `draw`.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);

/// `flow` drawn, with WhatsApp's 24-hour window.
pub fn draw(flow: &Flow) -> Drawing {
    draw_for(flow, WINDOW)
}

/// `flow` drawn, with a customer-service window of `window` (the config's `window`).
pub fn draw_for(flow: &Flow, window: Duration) -> Drawing {
    let reached = reach(flow);
    let late = crate::flows::late_free_form(flow, window);
    let mut nodes: Vec<Node> = flow
        .steps
        .iter()
        .enumerate()
        .filter(|(_, step)| step.origin != Origin::Added)
        .map(|(i, step)| Node {
            id: node_id(flow, i),
            label: labels::node_label(&step.op, |t| match land(flow, t) {
                Some(t) => node_id(flow, t),
                None => "the end".into(),
            }),
            kind: step.op.name().to_string(),
            line: step.at.line,
            column: step.at.column,
            end_line: step.last_line.max(step.at.line),
            unreachable: !reached[i],
            free_form_after_window: late.get(i).copied().unwrap_or(false),
        })
        .collect();
    let edges = edges::Edges::of(flow);
    nodes.extend(edges.outside);
    Drawing {
        flow: flow.id.clone(),
        nodes,
        edges: edges.edges,
        entries: entries(flow),
    }
}

/// The triggers (and the schedule) as ways into the flow's first step.
fn entries(flow: &Flow) -> Vec<Entry> {
    let Some(first) = land(flow, 0) else {
        return Vec::new();
    };
    let to = node_id(flow, first);
    let mut entries: Vec<Entry> = flow
        .triggers
        .iter()
        .map(|t| Entry {
            label: labels::trigger(t),
            to: to.clone(),
        })
        .collect();
    if let Some(schedule) = &flow.schedule {
        entries.push(Entry {
            label: labels::short(&format!("schedule: {}", schedule.cron_text)),
            to,
        });
    }
    entries
}

/// Which steps some path from the first step reaches, as `parley check` sees it: a
/// `handoff` ends the run (a person takes over).
fn reach(flow: &Flow) -> Vec<bool> {
    let mut seen = vec![false; flow.steps.len()];
    let mut todo = vec![0usize];
    while let Some(i) = todo.pop() {
        if i >= seen.len() || seen[i] {
            continue;
        }
        seen[i] = true;
        if !matches!(flow.steps[i].op, Op::Handoff { .. }) {
            todo.extend(graph::successors(&flow.steps[i].op, i));
        }
    }
    seen
}
