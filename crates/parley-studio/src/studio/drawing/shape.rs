//! What a drawn flow is made of, as the `/studio` page reads it (the GRAPH of the studio's
//! HTTP contract): nodes, labelled edges between them, and the entries the triggers give.
//! A leaf: the drawing's other rooms fill these in.

use serde::Serialize;

/// A flow drawn as a graph, from its compiled form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drawing {
    /// The flow's id.
    pub flow: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// Where a conversation comes in: one per trigger, and the schedule.
    pub entries: Vec<Entry>,
}

/// One step of the flow, or a place outside it that an edge leads to (another flow, a
/// person, a template sent when the window has closed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// The step's `id:`, else `#<index>` (its place in the compiled program, from 0).
    /// Places outside the flow: `flow:<id>`, `~person`, `<step node id>~window`.
    pub id: String,
    /// The kind and a short text: `ask: What is your name?`.
    pub label: String,
    /// The step kind (`send`, `ask`, `if`…), or `flow`, `person`, `template` for places
    /// outside the flow.
    pub kind: String,
    /// Where the step is written: its first line and column, and its last line (1-based).
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    /// No path from the flow's first step leads to it.
    pub unreachable: bool,
    /// It can send a free-form message after the customer-service window has closed,
    /// with no `if_window_closed` to say what to do then (`parley check` reports it).
    pub free_form_after_window: bool,
}

/// How one node leads to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// The step is done and the next one runs.
    Next,
    /// `goto`, `goto_flow`.
    Goto,
    /// `if`'s `then`/`else`, `switch`'s cases and default.
    Branch,
    /// An `ask` or `form` got a valid answer.
    Answer,
    /// An `ask` or `form` got no valid answer (`on_invalid`).
    Invalid,
    /// An `ask` or `form` waited too long (`on_timeout`).
    Timeout,
    /// A step failed (`on_error`, an agent's `on_error` or `on_budget`).
    Error,
    /// The template sent instead of a free-form message once the window has closed.
    Window,
    /// An agent's tool (`end`, `goto_flow`, `handoff`).
    Tool,
}

/// An arrow from one node to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// What the arrow means here: `next`, `then`, a choice, `timeout 2h`, `tool: end`.
    pub label: String,
    pub kind: EdgeKind,
}

/// A way into the flow: a trigger (`keyword: hi`) or its schedule, and the node it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub label: String,
    pub to: String,
}
