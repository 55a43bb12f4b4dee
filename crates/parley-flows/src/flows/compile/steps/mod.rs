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
mod expr;
mod http;

use ask::ask;
pub(super) use ask::{answer_waits, AnswerWaits};
use expr::*;
use http::http;
pub(super) use http::to_json;

/// Every kind of step, declared once, in the order the reference lists them: its
/// action's name and what the action's group of settings may hold. The compiler reads it
/// for the names it accepts (and the "did you mean" of a misspelt one) and for the
/// settings written beside an action instead of under it; `op` turns each into its `Op`.
pub const STEP_KINDS: &[StepKind] = &[
    StepKind::group("send", &[content::CONTENT_KEYS]),
    StepKind::group("ask", &[ASK_KEYS, content::CONTENT_KEYS]),
    StepKind::group("form", &[super::form::FORM_KEYS]),
    StepKind::value("if"),
    StepKind::group("switch", &[SWITCH_KEYS]),
    StepKind {
        name: "set",
        settings: Settings::Any,
    },
    StepKind::group("script", &[SCRIPT_KEYS]),
    StepKind::group("http", &[HTTP_KEYS]),
    StepKind::group("agent", &[super::agent::AGENT_KEYS]),
    StepKind::group("handoff", &[HANDOFF_KEYS]),
    StepKind::value("goto"),
    StepKind::value("goto_flow"),
    StepKind::value("delay"),
    StepKind::value("tag"),
    StepKind::value("untag"),
    StepKind::value("end"),
];

/// One kind of step (`STEP_KINDS`).
pub struct StepKind {
    pub name: &'static str,
    pub settings: Settings,
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
    const fn group(name: &'static str, keys: &'static [&'static [&'static str]]) -> Self {
        Self {
            name,
            settings: Settings::Only(keys),
        }
    }

    const fn value(name: &'static str) -> Self {
        Self {
            name,
            settings: Settings::None,
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

const EXPECT: &[&str] = &[
    "text", "number", "email", "phone", "choice", "button", "regex", "media", "address",
];
const ASK_KEYS: &[&str] = &[
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
const SWITCH_KEYS: &[&str] = &["on", "cases", "default"];
const SCRIPT_KEYS: &[&str] = &["code", "file", "on_error"];
const HTTP_KEYS: &[&str] = &[
    "method", "url", "headers", "body", "timeout", "save_as", "on_error",
];
const HANDOFF_KEYS: &[&str] = &["timeout", "message"];

pub fn compile(
    b: &mut Builder<'_>,
    node: &YamlNode,
    index: usize,
    origin: Origin,
    problems: &mut Problems,
) -> Step {
    let at = yaml::pos(node);
    let end = Step {
        id: None,
        at,
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
    Step { id, at, origin, op }
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

fn op(
    b: &mut Builder<'_>,
    action: &str,
    value: &YamlNode,
    map: &marked_yaml::types::MarkedMappingNode,
    index: usize,
    problems: &mut Problems,
) -> Option<Op> {
    Some(match action {
        "send" if yaml::is_empty(value) => {
            let at = map
                .keys()
                .find(|k| k.as_str() == "send")
                .map(yaml::scalar_pos);
            problems.error(
                at.unwrap_or_else(|| yaml::pos(value)),
                "this `send` has nothing to send",
                Some("write the message after it, like `send: Hello`, or put `text:` on the next line, indented two more spaces than `send`".into()),
            );
            return None;
        }
        "send" => Op::Send(Box::new(send_spec(
            value,
            &[],
            "a `send`",
            b.ctx,
            problems,
        )?)),
        "ask" => Op::Ask(Box::new(ask(b, value, index, problems)?)),
        "form" => Op::Form(Box::new(super::form::compile(b, value, index, problems)?)),
        "if" => {
            let condition = expr(b, value, "the `if` condition", problems)?;
            condition_mistakes(&condition, true, problems);
            let then = match map.get_node("then") {
                Some(n) => b.branch(n, index, Slot::Then, problems),
                None => {
                    problems.error(
                        yaml::pos(value),
                        "`if` needs `then:`: a step id or the steps to run",
                        None,
                    );
                    return None;
                }
            };
            let otherwise = match map.get_node("else") {
                Some(n) => b.branch(n, index, Slot::Otherwise, problems),
                None => index + 1,
            };
            Op::If {
                condition,
                then,
                otherwise,
            }
        }
        "switch" => {
            let m = yaml::as_map(value, "`switch`", problems)?;
            yaml::check_keys(m, SWITCH_KEYS, "a `switch`", problems);
            let Some(on_node) = m.get_node("on") else {
                problems.error(
                    yaml::pos(value),
                    "`switch` needs `on:`: the value to look at, like `vars.choice`",
                    None,
                );
                return None;
            };
            let on = expr(b, on_node, "the `switch` value", problems)?;
            condition_mistakes(&on, true, problems);
            let Some(cases_node) = m
                .get_node("cases")
                .and_then(|n| yaml::as_map(n, "`cases`", problems))
            else {
                problems.error(yaml::pos(value), "`switch` needs `cases:`", None);
                return None;
            };
            let mut cases = Vec::new();
            for (i, (k, v)) in cases_node.iter().enumerate() {
                let target = b.branch(v, index, Slot::Case(i), problems);
                cases.push((k.as_str().to_string(), target));
            }
            let default = match m.get_node("default") {
                Some(n) => b.branch(n, index, Slot::Default, problems),
                None => index + 1,
            };
            Op::Switch { on, cases, default }
        }
        "set" => {
            let m = yaml::as_map(value, "`set`", problems)?;
            let mut assignments = Vec::new();
            for (k, v) in m.iter() {
                let key = k.as_str();
                let target = if key == "contact.name" {
                    SetTarget::ContactName
                } else if let Some(attr) = key.strip_prefix("contact.") {
                    SetTarget::ContactAttribute(attr.to_string())
                } else {
                    SetTarget::Var(key.strip_prefix("vars.").unwrap_or(key).to_string())
                };
                if key.is_empty()
                    || key.contains(char::is_whitespace)
                    || matches!(&target, SetTarget::ContactAttribute(a) if a.is_empty())
                    || matches!(&target, SetTarget::Var(v) if v.is_empty())
                {
                    problems.error(
                        yaml::scalar_pos(k),
                        format!("`{key}` is not a variable name"),
                        Some("use one word, like `order_id` or `contact.city`".into()),
                    );
                }
                let text = yaml::as_str(v, &format!("the value of `{key}`"), problems)?;
                let spec = match (text.strip_prefix('='), plain_value(v)) {
                    (_, Some(value)) => ValueSpec::Value(value),
                    (Some(code), None) => {
                        let value = compile_expr(b, code.trim(), v, problems)?;
                        condition_mistakes(&value, false, problems);
                        ValueSpec::Expr(value)
                    }
                    (None, None) => {
                        blanks::check(v, b.ctx, problems);
                        ValueSpec::Text(text.to_string())
                    }
                };
                assignments.push((target, spec));
            }
            Op::Set { assignments }
        }
        "script" => {
            let (code, at_node, on_error_node) = match value {
                YamlNode::Scalar(_) => (
                    yaml::as_str(value, "`script`", problems)?.to_string(),
                    value,
                    None,
                ),
                other => {
                    let m = yaml::as_map(other, "`script`", problems)?;
                    yaml::check_keys(m, SCRIPT_KEYS, "a `script`", problems);
                    let code = match (m.get_node("code"), m.get_node("file")) {
                        (Some(c), None) => (yaml::as_str(c, "`code`", problems)?.to_string(), c),
                        (None, Some(f)) => {
                            let name = yaml::as_str(f, "`file`", problems)?;
                            let Some(path) = script_path(b.ctx.scripts_dir, name) else {
                                problems.error(
                                    yaml::pos(f),
                                    format!("the script `{name}` is outside the `scripts/` folder"),
                                    Some("put the script in `scripts/` and write its name from there, like `file: order_summary.rhai`".into()),
                                );
                                return None;
                            };
                            match crate::config::file_limits::read_limited(&path) {
                                Ok(text) => (text, f),
                                Err(e) => {
                                    problems.error(
                                        yaml::pos(f),
                                        format!("the script {}: {e}", path.display()),
                                        Some("scripts live in the `scripts/` folder".into()),
                                    );
                                    return None;
                                }
                            }
                        }
                        _ => {
                            problems.error(
                                yaml::pos(other),
                                "`script` needs either `code:` or `file:`",
                                None,
                            );
                            return None;
                        }
                    };
                    (code.0, code.1, m.get_node("on_error"))
                }
            };
            let is_file = matches!(value, YamlNode::Mapping(m) if m.get_node("file").is_some());
            let compiled = if is_file {
                compile_file_script(b, &code, at_node, problems)?
            } else {
                compile_expr(b, &code, at_node, problems)?
            };
            let on_error = on_error_node.map(|n| b.branch(n, index, Slot::OnError, problems));
            Op::Script {
                code: compiled,
                on_error,
            }
        }
        "http" => Op::Http(Box::new(http(b, value, index, problems)?)),
        "agent" => {
            let at = map
                .keys()
                .find(|k| k.as_str() == "agent")
                .map(yaml::scalar_pos)
                .unwrap_or_else(|| yaml::pos(value));
            Op::Agent(Box::new(super::agent::compile(
                b, value, at, index, problems,
            )?))
        }
        "handoff" => {
            let (timeout, message) = match value {
                YamlNode::Mapping(m) => {
                    yaml::check_keys(m, HANDOFF_KEYS, "a `handoff`", problems);
                    let timeout = m
                        .get_node("timeout")
                        .and_then(|n| super::content::handoff_timeout(n, problems));
                    let message = match m.get_node("message") {
                        Some(n) => Some(Box::new(send_spec(
                            n,
                            &[],
                            "the handoff `message`",
                            b.ctx,
                            problems,
                        )?)),
                        None => None,
                    };
                    (timeout, message)
                }
                YamlNode::Scalar(s) if matches!(s.as_str(), "" | "true" | "yes" | "{}") => {
                    (None, None)
                }
                other => {
                    problems.error(
                        yaml::pos(other),
                        "`handoff` takes `{}` or `{ timeout: 2h, message: \"…\" }`",
                        None,
                    );
                    return None;
                }
            };
            Op::Handoff { timeout, message }
        }
        "goto" => {
            let id = yaml::as_str(value, "`goto`", problems)?;
            b.jump(index, Slot::Goto, id, yaml::pos(value));
            Op::Goto(usize::MAX)
        }
        "goto_flow" => Op::GotoFlow(yaml::as_str(value, "`goto_flow`", problems)?.to_string()),
        "delay" => {
            let d = yaml::as_duration(value, "`delay`", problems)?;
            if d.is_zero() {
                problems.warning(yaml::pos(value), "a delay of zero does nothing", None);
            }
            Op::Delay(d)
        }
        "tag" | "untag" => {
            let tags: Vec<String> = yaml::as_list(value)
                .into_iter()
                .filter_map(|n| yaml::as_str(n, "a tag", problems))
                .map(|s| s.trim().to_string())
                .collect();
            if tags.iter().any(String::is_empty) {
                problems.error(yaml::pos(value), "a tag cannot be empty", None);
            }
            if action == "tag" {
                Op::Tag(tags)
            } else {
                Op::Untag(tags)
            }
        }
        "end" => Op::End,
        _ => return None,
    })
}
