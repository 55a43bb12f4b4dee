//! Turns a flow file's node tree into a compiled `Flow`, reporting every problem with its
//! line and column: unknown settings, missing or duplicate step ids, bad regexes, Rhai
//! syntax errors (at their line in the YAML file), WhatsApp limits, undeclared or
//! unapproved templates, unreachable steps.

pub(super) mod agent;
mod agent_knowledge;
pub(super) mod agent_tools;
mod blanks;
pub(super) mod content;
pub(super) mod guardrails;
pub(crate) mod loops;
mod private_url;
pub(super) mod steps;

use super::graph::successors;
use super::model::{Flow, Op, Origin, Step};
use super::problem::{Pos, Problems};
use super::yaml::{self, YamlNode};
use crate::config::TemplateConfig;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;

/// What compiling needs from the outside world.
pub struct LoadContext<'a> {
    pub templates: &'a [TemplateConfig],
    pub scripts_dir: &'a Path,
    pub rhai: &'a rhai::Engine,
    /// The file's text, to place problems inside a value.
    pub source: &'a str,
    /// The config's senders and network rule; `None` skips the checks that need them.
    pub deployment: Option<&'a super::project::Deployment>,
    /// The folder holding the flows folder: `knowledge:` files are named from it and may
    /// not leave it.
    pub project_dir: &'a Path,
    /// Knowledge indexes built so far in this load, shared by steps naming the same files.
    pub knowledge: &'a KnowledgeShelf,
}

pub use agent_knowledge::KnowledgeShelf;

pub const FLOW_KEYS: &[&str] = &[
    "id",
    "description",
    "priority",
    "triggers",
    "steps",
    "schedule",
    "debounce",
    "typing",
    "languages",
    "detect_language",
    "translations",
    "candidate",
];

/// What is known of a flow file with errors, so the checks across flows can still look at
/// it: its id (a `goto_flow` to it is not "no such flow") and the flows its steps and
/// agents' tools go to (a missing one is reported now, not after the other errors are
/// fixed).
#[derive(Debug, Default)]
pub struct Broken {
    pub file: String,
    pub id: Option<String>,
    pub gotos: Vec<(String, Pos)>,
}

/// The longest flow id (the insights API refuses longer ones).
pub const MAX_FLOW_ID: usize = 200;

/// Compiles one file. Returns the flow only when it has no errors.
pub fn compile(
    text: &str,
    file: &str,
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) -> Result<Flow, Broken> {
    let broken = || Broken {
        file: file.to_string(),
        ..Default::default()
    };
    let Some(root) = yaml::parse(text, problems) else {
        // Its `id:` line still says which flow it is, so a `goto_flow` to it from another
        // file is not reported as a flow that does not exist (the author would look for
        // the mistake in the wrong file).
        return Err(Broken {
            id: yaml::id_line(text),
            ..broken()
        });
    };
    let Some(map) = yaml::as_map(&root, "a flow file", problems) else {
        return Err(broken());
    };
    yaml::check_keys(map, FLOW_KEYS, "a flow", problems);
    let id = match map.get_node("id") {
        Some(n) => yaml::as_str(n, "`id`", problems).map(str::to_string),
        None => {
            problems.error(
                yaml::pos(&root),
                "the flow has no `id`",
                Some("add a line like `id: welcome` at the top; ids name flows in goto_flow and in reports".into()),
            );
            None
        }
    };
    if let Some(id) = &id {
        check_id(id, yaml::pos(map.get_node("id").unwrap_or(&root)), problems);
    }
    let description = map
        .get_node("description")
        .and_then(|n| yaml::as_str(n, "`description`", problems))
        .map(str::to_string);
    let priority = map
        .get_node("priority")
        .and_then(|n| yaml::as_int(n, "`priority`", problems))
        .unwrap_or(0);
    let triggers = match map.get_node("triggers") {
        Some(n) => super::triggers::compile::compile(n, problems),
        None => Vec::new(),
    };
    // `languages:`, `detect_language:`, `translations:` (the `language` step needs them).
    let declared = super::languages::authoring::declared(map, file, problems);
    let steps = match map.get_node("steps") {
        Some(n) => {
            let mut b = Builder::new(text, ctx);
            b.languages = declared.languages.clone();
            b.program(n, problems);
            b.finish(problems)
        }
        None => {
            problems.error(
                yaml::pos(&root),
                "the flow has no `steps`",
                Some("add `steps:` with at least one step, like `- send: \"Hello!\"`".into()),
            );
            Vec::new()
        }
    };
    let schedule = map
        .get_node("schedule")
        .and_then(|n| super::schedule::parse(n, problems));
    if let (Some(s), Some(d), Some(node)) = (&schedule, ctx.deployment, map.get_node("schedule")) {
        if let Err(why) = s.sender_among(&d.sender_ids) {
            let at = match node {
                YamlNode::Mapping(m) => m.get_node("sender").unwrap_or(node),
                other => other,
            };
            problems.error(
                yaml::pos(at),
                format!("this scheduled flow can never run: {why}"),
                Some(s.sender_hint(&d.sender_ids)),
            );
        }
    }
    let debounce = map
        .get_node("debounce")
        .and_then(|n| yaml::as_duration(n, "`debounce`", problems));
    // `candidate: v2`: this file is the candidate version of the flow with the same id.
    let candidate = map
        .get_node("candidate")
        .and_then(|n| yaml::as_str(n, "`candidate`", problems))
        .map(str::to_string);
    let typing = map
        .get_node("typing")
        .and_then(|n| yaml::as_bool(n, "`typing`", problems))
        .unwrap_or(false);
    let id = match id {
        Some(id) if !problems.has_errors() => id,
        id => {
            let gotos = super::graph::goto_targets(&steps)
                .into_iter()
                .map(|(target, at)| (target.clone(), at))
                .collect();
            return Err(Broken {
                id,
                gotos,
                ..broken()
            });
        }
    };
    let steps = super::set::experiment_check::named_splits(steps, &id);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    Ok(Flow {
        id,
        id_at: map.get_node("id").map(yaml::pos).unwrap_or_default(),
        file: file.to_string(),
        description,
        priority,
        version: hasher.finish(),
        triggers,
        steps,
        schedule,
        debounce,
        typing,
        languages: declared.languages,
        detect_language: declared.detect_language,
        translations: std::sync::Arc::new(declared.translations),
        candidate,
    })
}

/// A flow id's mistakes: spaces, characters that break URLs and reports, length.
fn check_id(id: &str, at: Pos, problems: &mut Problems) {
    let hint = || Some("use letters, digits, - and _, like `order-status`".into());
    if id.trim().is_empty() || id.chars().any(char::is_whitespace) {
        problems.error(
            at,
            format!("the flow id `{id}` must be one word without spaces"),
            hint(),
        );
    } else if id.starts_with('.')
        || !id
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        // Ids name flows in URLs (insights, the sandbox) and in reports: `..`, `a/b?c`
        // or `=cmd` would break them.
        problems.error(
            at,
            format!("the flow id `{id}` may hold only letters, digits, -, _ and . (not first)"),
            hint(),
        );
    } else if id.chars().count() > MAX_FLOW_ID {
        problems.error(
            at,
            format!(
                "the flow id is {} characters long; at most {MAX_FLOW_ID}",
                id.chars().count()
            ),
            Some("a short name, like `order-status`, reads best in reports".into()),
        );
    }
}

/// Which jump of a step still needs its step id resolved.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Goto,
    Then,
    Otherwise,
    Case(usize),
    Default,
    OnTimeout,
    OnInvalid,
    OnError,
    /// An agent's `on_budget: { goto }`.
    OnBudget,
}

/// Builds the flat program: each list of steps is laid out contiguously and followed by
/// the jump to where its parent continues; nested lists (in `then`, `else`, `cases`) are
/// appended after their parent.
pub(super) struct Builder<'a> {
    source: &'a str,
    /// The source's lines, for where each step ends (`Step::last_line`).
    lines: Vec<&'a str>,
    ctx: &'a LoadContext<'a>,
    steps: Vec<Option<Step>>,
    /// The author's number of the top-level step being compiled (`None`: none yet).
    within: Option<usize>,
    ids: HashMap<String, (usize, Pos)>,
    fixups: Vec<(usize, Slot, String, Pos)>,
    /// The flow's `languages:` (the base first), for the `language` step.
    languages: Vec<String>,
}

impl<'a> Builder<'a> {
    fn new(source: &'a str, ctx: &'a LoadContext<'a>) -> Self {
        Self {
            source,
            lines: source.lines().collect(),
            ctx,
            steps: Vec::new(),
            within: None,
            ids: HashMap::new(),
            fixups: Vec::new(),
            languages: Vec::new(),
        }
    }

    fn program(&mut self, node: &YamlNode, problems: &mut Problems) {
        match node {
            YamlNode::Sequence(seq) if !seq.is_empty() => {
                let items: Vec<&YamlNode> = seq.iter().collect();
                self.list(&items, None, problems);
            }
            other => problems.error(
                yaml::pos(other),
                "`steps` must be a list with at least one step",
                Some("write each step on its own line starting with `- `".into()),
            ),
        }
    }

    /// Lays out a list of steps; returns the index of its first step. `then` is where to
    /// continue after the last one (`None`: the run ends).
    fn list(&mut self, items: &[&YamlNode], then: Option<usize>, problems: &mut Problems) -> usize {
        let start = self.steps.len();
        for _ in items {
            self.steps.push(None);
        }
        let end_pos = items.last().map(|n| yaml::pos(n)).unwrap_or_default();
        self.steps.push(Some(Step {
            id: None,
            at: end_pos,
            last_line: end_pos.line,
            origin: Origin::Added,
            op: match then {
                Some(t) => Op::Goto(t),
                None => Op::End,
            },
        }));
        let outer = self.within;
        for (i, node) in items.iter().enumerate() {
            let index = start + i;
            let origin = match outer {
                Some(n) => Origin::Inside(n),
                None => Origin::Top(i + 1),
            };
            self.within = Some(outer.unwrap_or(i + 1));
            let step = steps::compile(self, node, index, origin, problems);
            self.steps[index] = Some(step);
        }
        self.within = outer;
        start
    }

    /// A jump written as a step id, a step, or a list of steps (`then`, `else`, cases).
    fn branch(
        &mut self,
        node: &YamlNode,
        from: usize,
        slot: Slot,
        problems: &mut Problems,
    ) -> usize {
        match node {
            YamlNode::Scalar(s) => {
                self.jump(from, slot, s.as_str(), yaml::pos(node));
                usize::MAX
            }
            YamlNode::Mapping(_) => self.list(&[node], Some(from + 1), problems),
            YamlNode::Sequence(seq) => {
                let items: Vec<&YamlNode> = seq.iter().collect();
                if items.is_empty() {
                    from + 1
                } else {
                    self.list(&items, Some(from + 1), problems)
                }
            }
        }
    }

    fn jump(&mut self, from: usize, slot: Slot, id: &str, at: Pos) {
        self.fixups.push((from, slot, id.to_string(), at));
    }

    fn declare(&mut self, id: &str, index: usize, at: Pos, problems: &mut Problems) {
        if let Some((_, first)) = self.ids.get(id) {
            problems.error(
                at,
                format!(
                    "step id `{id}` is used twice in this flow (first at line {})",
                    first.line
                ),
                Some("give each step its own id".into()),
            );
        } else {
            self.ids.insert(id.to_string(), (index, at));
        }
    }

    fn finish(mut self, problems: &mut Problems) -> Vec<Step> {
        let mut steps: Vec<Step> = self
            .steps
            .drain(..)
            .map(|s| {
                s.unwrap_or(Step {
                    id: None,
                    at: Pos::default(),
                    last_line: 0,
                    origin: Origin::Added,
                    op: Op::End,
                })
            })
            .collect();
        for (from, slot, id, at) in std::mem::take(&mut self.fixups) {
            let Some(&(target, _)) = self.ids.get(&id) else {
                let known: Vec<&str> = self.ids.keys().map(String::as_str).collect();
                let hint = match super::problem::did_you_mean(&id, &known) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None if known.is_empty() => {
                        "give the step you want to go to an `id:`".to_string()
                    }
                    None => format!("step ids in this flow: {}", sorted(&known)),
                };
                problems.error(
                    at,
                    format!("there is no step with id `{id}` in this flow"),
                    Some(hint),
                );
                continue;
            };
            if let Some(field) = slot_mut(&mut steps[from].op, slot) {
                *field = target;
            }
        }
        // Steps that failed to compile became `end`: reachability would only add noise.
        if !problems.has_errors() {
            reach_warnings(&steps, problems);
            loops::check(&steps, problems);
        }
        steps
    }
}

fn sorted(items: &[&str]) -> String {
    let mut v = items.to_vec();
    v.sort_unstable();
    v.join(", ")
}

fn slot_mut(op: &mut Op, slot: Slot) -> Option<&mut usize> {
    match (op, slot) {
        (Op::Goto(t), Slot::Goto) => Some(t),
        (Op::If { then, .. }, Slot::Then) => Some(then),
        (Op::If { otherwise, .. }, Slot::Otherwise) => Some(otherwise),
        (Op::Switch { cases, .. }, Slot::Case(i)) => cases.get_mut(i).map(|(_, t)| t),
        (Op::Switch { default, .. }, Slot::Default) => Some(default),
        (Op::Split(s), Slot::Case(i)) => s.arms.get_mut(i).map(|a| &mut a.target),
        (Op::Ask(a), Slot::OnTimeout) => a.on_timeout.as_mut(),
        (Op::Ask(a), Slot::OnInvalid) => a.on_invalid.as_mut(),
        (Op::Form(f), Slot::OnTimeout) => f.on_timeout.as_mut(),
        (Op::Form(f), Slot::OnInvalid) => f.on_invalid.as_mut(),
        (Op::Script { on_error, .. }, Slot::OnError) => on_error.as_mut(),
        (Op::Http(h), Slot::OnError) => h.on_error.as_mut(),
        (Op::Agent(a), Slot::OnError) => a.on_error.goto.as_mut(),
        (Op::Agent(a), Slot::OnBudget) => a.on_budget.goto.as_mut(),
        _ => None,
    }
}

/// How each step can be reached from the first: `[without, with]` buttons offered before
/// it on the way (a `send` of buttons, a list or a template, an `ask` whose question has
/// them, an `agent` that may offer some). A `handoff` ends the run: a person has the
/// conversation, and a release starts afresh from the triggers, so nothing after it runs.
fn reach(steps: &[Step]) -> Vec<[bool; 2]> {
    let mut seen = vec![[false; 2]; steps.len()];
    let mut todo = vec![(0usize, false)];
    while let Some((i, offered)) = todo.pop() {
        if i >= steps.len() || seen[i][usize::from(offered)] {
            continue;
        }
        seen[i][usize::from(offered)] = true;
        if matches!(steps[i].op, Op::Handoff { .. }) {
            continue;
        }
        let after = offered || offers_buttons(&steps[i].op);
        todo.extend(successors(&steps[i].op, i).into_iter().map(|n| (n, after)));
    }
    seen
}

/// Whether `op` may leave buttons for the customer to tap.
fn offers_buttons(op: &Op) -> bool {
    use super::model::{ContentSpec, SendSpec};
    let tappable = |spec: &SendSpec| {
        matches!(
            spec.content,
            ContentSpec::Buttons { .. } | ContentSpec::List { .. } | ContentSpec::Template(_)
        )
    };
    match op {
        Op::Send(spec) => tappable(spec),
        Op::Ask(ask) => ask.prompt.as_ref().is_some_and(tappable),
        Op::Agent(_) => true,
        _ => false,
    }
}

/// Warns about steps no path reaches (after an unconditional `goto`, an `end` or a
/// `handoff`), and about an `ask … expect: button` that no path reaches after buttons: its
/// customer could only tap an older message's button, and every typed answer would be
/// refused until the retries run out.
fn reach_warnings(steps: &[Step], problems: &mut Problems) {
    use super::model::Expect;
    let reached = reach(steps);
    let seen = |i: usize| reached[i].contains(&true);
    for (i, step) in steps.iter().enumerate() {
        // Added jumps are not the author's steps.
        if !seen(i) && step.origin != Origin::Added {
            let name = step
                .id
                .as_deref()
                .map(|s| format!("step `{s}`"))
                .unwrap_or_else(|| "this step".into());
            let after_handoff =
                i > 0 && seen(i - 1) && matches!(steps[i - 1].op, Op::Handoff { .. });
            let (message, hint) = if after_handoff {
                (
                    format!("{name} can never run: the `handoff` before it ends the flow (a person takes over, and a release starts again from the triggers)"),
                    "put it before the `handoff` (its `message:` is sent as the person takes over), or remove it",
                )
            } else {
                (
                    format!("{name} can never run: no step leads to it"),
                    "remove it, or give it an `id:` and `goto` it from somewhere",
                )
            };
            problems.warning(step.at, message, Some(hint.into()));
        }
        if let Op::Ask(ask) = &step.op {
            if matches!(ask.expect, Expect::Button)
                && reached[i] == [true, false]
                && !offers_buttons(&step.op)
            {
                problems.warning(
                    step.at,
                    "`expect: button` waits for a tap on buttons, but no step before this one sends any: every typed answer will be refused",
                    Some("send buttons or a list first (`send:` with `buttons:`), or use `expect: choice` with `choices: [...]`".into()),
                );
            }
        }
    }
}
