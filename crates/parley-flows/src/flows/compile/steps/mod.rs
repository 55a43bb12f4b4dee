//! One step of `steps:`: a mapping with one action (`send`, `ask`, `if`, …) and an optional
//! `id` other steps can `goto`.

use super::super::model::{
    AskSpec, ContentSpec, Expect, Expr, HttpSpec, Op, Origin, SendSpec, SetTarget, Step, ValueSpec,
};
use super::super::problem::{did_you_mean, Pos, Problems};
use super::super::script;
use super::super::yaml::{self, YamlNode};
use super::content::{self, send_spec};
use super::{blanks, private_url};
use super::{Builder, Slot};
use crate::domain::MediaKind;
use std::sync::Arc;
use std::time::Duration;

mod ask;
mod control;
mod expr;
pub(in crate::flows) mod form;
mod handoff;
mod http;
mod language;
mod scripting;
mod split;
mod state;

use ask::ask;
use control::{delay_step, end_step, goto_flow_step, goto_step, if_step, switch_step};
use expr::*;
use handoff::handoff_step;
use http::http;
use scripting::script_step;
use state::{set_step, tag_step, untag_step};

/// Every kind of step, declared once, in the order the reference lists them: its
/// action's name, what the action's group of settings may hold, and the function that
/// compiles it. The compiler reads it for the names it accepts (and the "did you mean" of
/// a misspelt one), for the settings written beside an action instead of under it, and
/// (`op`) to turn each step into its `Op`: a new kind is one entry here and its function.
pub const STEP_KINDS: &[StepKind] = &[
    StepKind::group("send", &[content::CONTENT_KEYS], send_step),
    StepKind::group("ask", &[ASK_KEYS, content::CONTENT_KEYS], ask_step),
    StepKind::group("form", &[form::FORM_KEYS], form_step),
    StepKind::value("if", if_step),
    StepKind::group("switch", &[SWITCH_KEYS], switch_step),
    StepKind {
        name: "set",
        settings: Settings::Any,
        compile: set_step,
    },
    StepKind::group("script", &[SCRIPT_KEYS], script_step),
    StepKind::group("http", &[HTTP_KEYS], http_step),
    StepKind::group("agent", &[super::agent::AGENT_KEYS], agent_step),
    StepKind::group("handoff", &[HANDOFF_KEYS], handoff_step),
    StepKind::value("goto", goto_step),
    StepKind::value("goto_flow", goto_flow_step),
    StepKind::value("delay", delay_step),
    StepKind::value("tag", tag_step),
    StepKind::value("untag", untag_step),
    StepKind::value("end", end_step),
    StepKind::group("split", &[split::SPLIT_KEYS], split::split_step),
    StepKind::group(
        "language",
        &[language::LANGUAGE_KEYS],
        language::language_step,
    ),
];

/// One kind of step (`STEP_KINDS`).
pub struct StepKind {
    pub name: &'static str,
    pub settings: Settings,
    /// Turns the action into the step's `Op`; `None` when a problem was reported.
    compile: CompileStep,
}

/// A step kind's compiler (`StepKind::compile`).
type CompileStep = fn(&mut Builder<'_>, &Action<'_>, &mut Problems) -> Option<Op>;

/// A step's action as its kind's compiler sees it.
struct Action<'a> {
    /// What the action's key holds: `send:`'s message, `if:`'s condition, …
    value: &'a YamlNode,
    /// The whole step, for the settings beside the action (`if`'s `then:` and `else:`)
    /// and the place of the action's key.
    step: &'a marked_yaml::types::MarkedMappingNode,
    /// The step's place in the program, where its jumps start from.
    index: usize,
}

/// What an action's value may hold as a group of settings.
pub enum Settings {
    /// Its value is not a group of settings (`goto: id`, `if:`'s condition).
    None,
    /// The keys of these lists, together.
    Only(&'static [&'static [&'static str]]),
    /// `set:` takes any variable name.
    Any,
}

impl StepKind {
    const fn group(
        name: &'static str,
        keys: &'static [&'static [&'static str]],
        compile: CompileStep,
    ) -> Self {
        Self {
            name,
            settings: Settings::Only(keys),
            compile,
        }
    }

    const fn value(name: &'static str, compile: CompileStep) -> Self {
        Self {
            name,
            settings: Settings::None,
            compile,
        }
    }
}

/// The step kind named `action`, if it is one.
fn step_kind(action: &str) -> Option<&'static StepKind> {
    STEP_KINDS.iter().find(|k| k.name == action)
}

/// The names of every step kind, for messages.
fn action_names() -> Vec<&'static str> {
    STEP_KINDS.iter().map(|k| k.name).collect()
}

pub const EXPECT: &[&str] = &[
    "text", "number", "email", "phone", "choice", "button", "regex", "media", "address",
];
pub const ASK_KEYS: &[&str] = &[
    "save_as",
    "expect",
    "choices",
    "pattern",
    "media",
    "retries",
    "retry_text",
    "timeout",
    "on_timeout",
    "on_invalid",
    "country",
];
pub const SWITCH_KEYS: &[&str] = &["on", "cases", "default"];
pub const SCRIPT_KEYS: &[&str] = &["code", "file", "on_error"];
pub const HTTP_KEYS: &[&str] = &[
    "method", "url", "headers", "body", "timeout", "save_as", "on_error",
];
pub const HANDOFF_KEYS: &[&str] = &["timeout", "message"];

pub fn compile(
    b: &mut Builder<'_>,
    node: &YamlNode,
    index: usize,
    origin: Origin,
    problems: &mut Problems,
) -> Step {
    let at = yaml::pos(node);
    let last_line = last_line(node, &b.lines, at.line);
    let end = Step {
        id: None,
        at,
        last_line,
        origin,
        op: Op::End,
    };
    let Some(map) = yaml::as_map(node, "a step", problems) else {
        return end;
    };
    let id = map
        .get_node("id")
        .and_then(|n| yaml::as_str(n, "`id`", problems))
        .map(str::to_string);
    if let (Some(id), Some(n)) = (&id, map.get_node("id")) {
        b.declare(id, index, yaml::pos(n), problems);
    }
    let actions: Vec<&str> = map
        .keys()
        .map(|k| k.as_str())
        .filter(|k| step_kind(k).is_some())
        .collect();
    let action = match actions.as_slice() {
        [one] => *one,
        [] => {
            let unknown = map.keys().find(|k| k.as_str() != "id");
            let (msg, hint) = match unknown {
                Some(k) => (
                    format!("`{}` is not a step", k.as_str()),
                    match did_you_mean(k.as_str(), &action_names()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("a step is one of: {}", action_names().join(", ")),
                    },
                ),
                None => (
                    "this step does nothing".to_string(),
                    format!("a step is one of: {}", action_names().join(", ")),
                ),
            };
            problems.error(unknown.map(yaml::scalar_pos).unwrap_or(at), msg, Some(hint));
            return end;
        }
        several => {
            problems.error(
                at,
                format!(
                    "one step can do one thing, this one has {}",
                    several.join(" and ")
                ),
                Some("put each on its own line starting with `- `".into()),
            );
            return end;
        }
    };
    let allowed: Vec<&str> = match action {
        "if" => vec!["id", "if", "then", "else"],
        a => vec![a, "id"],
    };
    let value = map.get_node(action).expect("action key exists");
    let misplaced = misplaced_settings(map, action, value, &allowed, problems);
    let mut known = allowed.clone();
    known.extend(misplaced.iter().copied());
    yaml::check_keys(map, &known, &format!("a `{action}` step"), problems);
    if !misplaced.is_empty() {
        return Step { origin, ..end };
    }
    let op = op(b, action, value, map, index, problems).unwrap_or(Op::End);
    Step {
        id,
        at,
        last_line,
        origin,
        op,
    }
}

/// The last line of a step's text: YAML ends a block where the next thing begins, so the
/// end's own line counts only when text of the step comes before it there, and blank and
/// comment lines before the next thing are not the step's.
fn last_line(node: &YamlNode, lines: &[&str], first: usize) -> usize {
    let Some(end) = node.span().end() else {
        return first;
    };
    let mut line = end.line();
    let text = |n: usize| lines.get(n.wrapping_sub(1)).copied().unwrap_or("");
    let before: String = text(line)
        .chars()
        .take(end.column().saturating_sub(1))
        .collect();
    if before.trim_start_matches([' ', '-']).is_empty() {
        line = line.saturating_sub(1);
    }
    while line > first && matches!(text(line).trim_start().chars().next(), None | Some('#')) {
        line -= 1;
    }
    line.max(first)
}

/// The most common YAML slip: a setting of the action written beside it instead of
/// under it, so YAML reads it as a setting of the step:
///
/// ```yaml
///   - send:
///     text: Hello        # belongs two spaces further right, under `send:`
/// ```
///
/// Reports each such setting at its place with how far to move it; returns their names.
fn misplaced_settings<'m>(
    map: &'m marked_yaml::types::MarkedMappingNode,
    action: &str,
    value: &YamlNode,
    allowed: &[&str],
    problems: &mut Problems,
) -> Vec<&'m str> {
    let Some(settings) = step_kind(action).map(|k| &k.settings) else {
        return Vec::new();
    };
    if matches!(settings, Settings::None) {
        return Vec::new();
    }
    let Some(action_key) = map.keys().find(|k| k.as_str() == action) else {
        return Vec::new();
    };
    // Where the action's settings start, or would start when it has none yet.
    let (column, like) = match value {
        YamlNode::Mapping(m) => match m.keys().next() {
            Some(first) => (
                yaml::scalar_pos(first).column,
                format!("with `{}:`", first.as_str()),
            ),
            None => (
                yaml::scalar_pos(action_key).column + 2,
                format!("under `{action}`'s contents"),
            ),
        },
        v if yaml::is_empty(v) => (
            yaml::scalar_pos(action_key).column + 2,
            format!("under `{action}`'s contents"),
        ),
        _ => return Vec::new(),
    };
    let mut found = Vec::new();
    for key in map.keys() {
        let name = key.as_str();
        let belongs = match settings {
            Settings::Only(lists) => lists.iter().any(|keys| keys.contains(&name)),
            Settings::Any => true,
            Settings::None => false,
        };
        if allowed.contains(&name) || !belongs {
            continue;
        }
        let at = yaml::scalar_pos(key);
        let more = column.saturating_sub(at.column);
        let how = if more == 0 {
            "indent it".to_string()
        } else {
            format!("indent it {}", super::super::problem::more_spaces(more))
        };
        problems.error(
            at,
            format!("`{name}:` belongs under `{action}:`"),
            Some(format!("{how} so it lines up {like}")),
        );
        found.push(name);
    }
    found
}

/// The step's `Op`, compiled by its kind's entry in `STEP_KINDS`.
fn op(
    b: &mut Builder<'_>,
    action: &str,
    value: &YamlNode,
    map: &marked_yaml::types::MarkedMappingNode,
    index: usize,
    problems: &mut Problems,
) -> Option<Op> {
    let kind = step_kind(action)?;
    let step = Action {
        value,
        step: map,
        index,
    };
    (kind.compile)(b, &step, problems)
}

fn send_step(b: &mut Builder<'_>, a: &Action<'_>, problems: &mut Problems) -> Option<Op> {
    if yaml::is_empty(a.value) {
        let at = a
            .step
            .keys()
            .find(|k| k.as_str() == "send")
            .map(yaml::scalar_pos);
        problems.error(
            at.unwrap_or_else(|| yaml::pos(a.value)),
            "this `send` has nothing to send",
            Some("write the message after it, like `send: Hello`, or put `text:` on the next line, indented two more spaces than `send`".into()),
        );
        return None;
    }
    Some(Op::Send(Box::new(send_spec(
        a.value,
        &[],
        "a `send`",
        b.ctx,
        problems,
    )?)))
}

fn ask_step(b: &mut Builder<'_>, a: &Action<'_>, problems: &mut Problems) -> Option<Op> {
    Some(Op::Ask(Box::new(ask(b, a.value, a.index, problems)?)))
}

fn form_step(b: &mut Builder<'_>, a: &Action<'_>, problems: &mut Problems) -> Option<Op> {
    Some(Op::Form(Box::new(form::compile(
        b, a.value, a.index, problems,
    )?)))
}

fn http_step(b: &mut Builder<'_>, a: &Action<'_>, problems: &mut Problems) -> Option<Op> {
    Some(Op::Http(Box::new(http(b, a.value, a.index, problems)?)))
}

fn agent_step(b: &mut Builder<'_>, a: &Action<'_>, problems: &mut Problems) -> Option<Op> {
    let at = a
        .step
        .keys()
        .find(|k| k.as_str() == "agent")
        .map(yaml::scalar_pos)
        .unwrap_or_else(|| yaml::pos(a.value));
    Some(Op::Agent(Box::new(super::agent::compile(
        b, a.value, at, a.index, problems,
    )?)))
}
