//! The arrows of a drawn flow: from each step the author wrote to the steps that may run
//! after it, labelled with why (`then`, a choice, `timeout 2h`, `on_error`), and to the
//! places outside the flow its steps lead to (another flow, a person, the template sent
//! once the window has closed). The jumps the compiler adds between lists are looked
//! through: an arrow goes to the author's step it lands on.

use super::labels::{answers, duration, short};
use super::shape::{Edge, EdgeKind, Node};
use crate::flows::{AgentSpec, FallbackSpec, Flow, Op, Origin, SendSpec, Step};

/// The id of the node for the program's step `index`: its `id:`, else `#<index>`.
pub fn node_id(flow: &Flow, index: usize) -> String {
    match flow.steps.get(index).and_then(|s| s.id.as_ref()) {
        Some(id) => id.clone(),
        None => format!("#{index}"),
    }
}

/// The author's step a jump to `target` lands on, through the jumps the compiler added;
/// `None` when the run ends there.
pub fn land(flow: &Flow, mut target: usize) -> Option<usize> {
    // A chain of added jumps is at most as long as the program.
    for _ in 0..=flow.steps.len() {
        let step = flow.steps.get(target)?;
        match (&step.origin, &step.op) {
            (Origin::Added, Op::Goto(next)) => target = *next,
            (Origin::Added, _) => return None,
            _ => return Some(target),
        }
    }
    None
}

/// Collects the edges and the nodes outside the flow that they lead to.
pub struct Edges<'a> {
    flow: &'a Flow,
    pub edges: Vec<Edge>,
    /// Nodes for places outside the flow (another flow, a person, a window template).
    pub outside: Vec<Node>,
}

impl<'a> Edges<'a> {
    /// Every arrow of `flow`, from each step its author wrote.
    pub fn of(flow: &'a Flow) -> Self {
        let mut edges = Self {
            flow,
            edges: Vec::new(),
            outside: Vec::new(),
        };
        for (i, step) in flow.steps.iter().enumerate() {
            if step.origin != Origin::Added {
                edges.step(i, step);
            }
        }
        edges
    }

    fn step(&mut self, i: usize, step: &Step) {
        let next = i + 1;
        match &step.op {
            Op::Send(s) => {
                self.window(i, step, s);
                self.to(i, next, "next", EdgeKind::Next);
            }
            Op::Ask(a) => {
                if let Some(p) = &a.prompt {
                    self.window(i, step, p);
                }
                // `expect: button` without a question of its own answers the message before.
                let prompt =
                    a.prompt
                        .as_ref()
                        .or(match i.checked_sub(1).map(|p| &self.flow.steps[p].op) {
                            Some(Op::Send(s)) => Some(s.as_ref()),
                            _ => None,
                        });
                let options = answers(&a.expect, prompt);
                let label = if !options.is_empty() {
                    short(&options.join(" / "))
                } else if a.expect.name() == "text" {
                    "answer".to_string()
                } else {
                    format!("answer: {}", a.expect.name())
                };
                self.to(i, next, &label, EdgeKind::Answer);
                self.waits(i, a.on_invalid, a.on_timeout, a.timeout);
            }
            Op::Form(f) => {
                self.window(i, step, &f.message);
                self.to(i, next, "submitted", EdgeKind::Answer);
                self.waits(i, f.on_invalid, f.on_timeout, f.timeout);
            }
            Op::If {
                then, otherwise, ..
            } => {
                self.to(i, *then, "then", EdgeKind::Branch);
                self.to(i, *otherwise, "else", EdgeKind::Branch);
            }
            Op::Split(split) => {
                for arm in &split.arms {
                    self.to(i, arm.target, &short(&arm.name), EdgeKind::Branch);
                }
            }
            Op::Switch { cases, default, .. } => {
                for (value, target) in cases {
                    self.to(i, *target, &short(value), EdgeKind::Branch);
                }
                self.to(i, *default, "default", EdgeKind::Branch);
            }
            Op::Script { on_error, .. } => {
                self.to(i, next, "next", EdgeKind::Next);
                if let Some(t) = on_error {
                    self.to(i, *t, "on_error", EdgeKind::Error);
                }
            }
            Op::Http(h) => {
                self.to(i, next, "next", EdgeKind::Next);
                if let Some(t) = h.on_error {
                    self.to(i, t, "on_error", EdgeKind::Error);
                }
            }
            Op::Agent(a) => self.agent(i, step, a),
            // A person takes over: the run ends here (a release starts from the triggers).
            Op::Handoff { message, .. } => {
                if let Some(m) = message {
                    self.window(i, step, m);
                }
            }
            Op::Goto(t) => self.to(i, *t, "goto", EdgeKind::Goto),
            Op::GotoFlow(target) => {
                let to = self.other_flow(step, target);
                self.push(i, to, "goto_flow", EdgeKind::Goto);
            }
            Op::Delay(d) => self.to(i, next, &format!("after {}", duration(*d)), EdgeKind::Next),
            Op::Set { .. } | Op::Tag(_) | Op::Untag(_) => self.to(i, next, "next", EdgeKind::Next),
            Op::End => {}
        }
    }

    fn agent(&mut self, i: usize, step: &Step, a: &AgentSpec) {
        if let FallbackSpec::Template(t) = &a.if_window_closed {
            let to = self.template(i, step, &t.name);
            self.push(i, to, "window closed", EdgeKind::Window);
        }
        if a.tools.end {
            self.to(i, i + 1, "tool: end", EdgeKind::Tool);
        } else {
            let turns = a.max_turns;
            let label = format!("after {turns} turn{}", if turns == 1 { "" } else { "s" });
            self.to(i, i + 1, &label, EdgeKind::Next);
        }
        for flow in &a.tools.goto_flow {
            let to = self.other_flow(step, flow);
            self.push(i, to, "tool: goto_flow", EdgeKind::Tool);
        }
        if a.tools.handoff.is_some() {
            let to = self.person(step);
            self.push(i, to, "tool: handoff", EdgeKind::Tool);
        }
        if let Some(t) = a.on_error.goto {
            self.to(i, t, "on_error", EdgeKind::Error);
        }
        if let Some(t) = a.on_budget.goto {
            self.to(i, t, "on_budget", EdgeKind::Error);
        }
    }

    /// `on_invalid` and `on_timeout` of an `ask` or a `form`.
    fn waits(
        &mut self,
        i: usize,
        invalid: Option<usize>,
        timeout: Option<usize>,
        after: Option<std::time::Duration>,
    ) {
        if let Some(t) = invalid {
            self.to(i, t, "invalid", EdgeKind::Invalid);
        }
        if let Some(t) = timeout {
            let label = match after {
                Some(d) => format!("timeout {}", duration(d)),
                None => "timeout".to_string(),
            };
            self.to(i, t, &label, EdgeKind::Timeout);
        }
    }

    /// The template a message becomes once the window has closed, when it says so.
    fn window(&mut self, i: usize, step: &Step, spec: &SendSpec) {
        if let FallbackSpec::Template(t) = &spec.if_window_closed {
            let to = self.template(i, step, &t.name);
            self.push(i, to, "window closed", EdgeKind::Window);
        }
    }

    /// An arrow to the author's step a jump to `target` lands on (none when the run ends).
    fn to(&mut self, from: usize, target: usize, label: &str, kind: EdgeKind) {
        if let Some(to) = land(self.flow, target) {
            let to = node_id(self.flow, to);
            self.push(from, to, label, kind);
        }
    }

    fn push(&mut self, from: usize, to: String, label: &str, kind: EdgeKind) {
        let edge = Edge {
            from: node_id(self.flow, from),
            to,
            label: label.to_string(),
            kind,
        };
        if !self.edges.contains(&edge) {
            self.edges.push(edge);
        }
    }

    fn other_flow(&mut self, step: &Step, flow: &str) -> String {
        self.outside_node(
            format!("flow:{flow}"),
            "flow",
            format!("flow: {flow}"),
            step,
        )
    }

    fn person(&mut self, step: &Step) -> String {
        self.outside_node("~person".into(), "person", "a person".into(), step)
    }

    fn template(&mut self, i: usize, step: &Step, name: &str) -> String {
        let id = format!("{}~window", node_id(self.flow, i));
        self.outside_node(id, "template", format!("template: {}", short(name)), step)
    }

    /// The node of a place outside the flow, made once, placed at the first step naming it.
    fn outside_node(&mut self, id: String, kind: &str, label: String, step: &Step) -> String {
        if !self.outside.iter().any(|n| n.id == id) {
            self.outside.push(Node {
                id: id.clone(),
                label,
                kind: kind.to_string(),
                line: step.at.line,
                column: step.at.column,
                end_line: step.at.line,
                unreachable: false,
                free_form_after_window: false,
            });
        }
        id
    }
}
