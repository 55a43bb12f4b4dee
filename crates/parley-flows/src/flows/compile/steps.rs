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

fn ask(
    b: &mut Builder<'_>,
    value: &YamlNode,
    index: usize,
    problems: &mut Problems,
) -> Option<AskSpec> {
    let m = yaml::as_map(value, "`ask`", problems)?;
    blanks::check_keys(m, &["retry_text"], b.ctx, problems);
    let prompt = if content::has_content(m) {
        Some(send_spec(value, ASK_KEYS, "an `ask`", b.ctx, problems)?)
    } else {
        let mut allowed = ASK_KEYS.to_vec();
        allowed.push("if_window_closed");
        yaml::check_keys(m, &allowed, "an `ask`", problems);
        None
    };
    let str_of = |key: &str, problems: &mut Problems| {
        m.get_node(key)
            .and_then(|n| yaml::as_str(n, &format!("`{key}`"), problems))
            .map(str::to_string)
    };
    let save_as = match str_of("save_as", problems) {
        Some(name) => {
            let name = name.strip_prefix("vars.").unwrap_or(&name).to_string();
            check_save_as(&name, m.get_node("save_as")?, problems);
            Some(name)
        }
        None => {
            problems.error(
                yaml::pos(value),
                "`ask` needs `save_as:`: the variable that keeps the answer",
                Some("for example `save_as: email`, then use it as {{ vars.email }}".into()),
            );
            None
        }
    };
    let expect_name = str_of("expect", problems).unwrap_or_else(|| "text".into());
    // Every other key is checked even when these two failed: one run of `parley check`
    // names every mistake of the step.
    let expect = expect_of(m, value, &expect_name, problems);
    let retries = m
        .get_node("retries")
        .and_then(|n| yaml::as_int(n, "`retries`", problems))
        .unwrap_or(2);
    if !(0..=10).contains(&retries) {
        problems.error(
            yaml::pos(m.get_node("retries")?),
            "`retries` must be between 0 and 10",
            None,
        );
    }
    let waits = answer_waits(b, m, index, "10m", problems);
    let (save_as, expect) = (save_as?, expect?);
    let prompt = address_prompt(&expect, prompt, m, value, problems)?;
    Some(AskSpec {
        prompt,
        save_as,
        expect,
        retries: retries.clamp(0, 10) as u32,
        retry_text: str_of("retry_text", problems),
        timeout: waits.timeout,
        on_timeout: waits.on_timeout,
        on_invalid: waits.on_invalid,
    })
}

/// How a step waiting for an answer (`ask`, `form`) stops waiting.
pub(super) struct AnswerWaits {
    pub timeout: Option<std::time::Duration>,
    pub on_timeout: Option<super::super::model::Target>,
    pub on_invalid: Option<super::super::model::Target>,
}

/// `timeout`, `on_timeout` (which needs a timeout, like `timeout: {example}`) and
/// `on_invalid` of `m`, the step at `index`.
pub(super) fn answer_waits(
    b: &mut Builder<'_>,
    m: &marked_yaml::types::MarkedMappingNode,
    index: usize,
    example: &str,
    problems: &mut Problems,
) -> AnswerWaits {
    let timeout = m
        .get_node("timeout")
        .and_then(|n| yaml::as_duration(n, "`timeout`", problems));
    let on_timeout = m.get_node("on_timeout").map(|n| {
        if timeout.is_none() {
            problems.error(
                yaml::pos(n),
                format!("`on_timeout` needs a `timeout:` too, like `timeout: {example}`"),
                None,
            );
        }
        b.branch(n, index, Slot::OnTimeout, problems)
    });
    let on_invalid = m
        .get_node("on_invalid")
        .map(|n| b.branch(n, index, Slot::OnInvalid, problems));
    AnswerWaits {
        timeout,
        on_timeout,
        on_invalid,
    }
}

/// What an `ask` named `name` in `expect:` checks its answer against; `None` after
/// reporting why it cannot.
fn expect_of(
    m: &marked_yaml::types::MarkedMappingNode,
    value: &YamlNode,
    name: &str,
    problems: &mut Problems,
) -> Option<Expect> {
    Some(match name {
        "text" => Expect::Text,
        "number" => Expect::Number,
        "email" => Expect::Email,
        "phone" => Expect::Phone,
        "button" => Expect::Button,
        "choice" => {
            let Some(node) = m.get_node("choices") else {
                problems.error(
                    yaml::pos(value),
                    "`expect: choice` needs `choices: [...]`: the answers to accept",
                    None,
                );
                return None;
            };
            let choices: Vec<String> = yaml::as_list(node)
                .into_iter()
                .filter_map(|n| yaml::as_str(n, "a choice", problems))
                .map(str::to_string)
                .collect();
            Expect::Choice(choices)
        }
        "regex" => {
            let Some(node) = m.get_node("pattern") else {
                problems.error(yaml::pos(value), "`expect: regex` needs `pattern:`", None);
                return None;
            };
            let pattern = yaml::as_str(node, "`pattern`", problems)?;
            match regex::Regex::new(pattern) {
                Ok(r) => Expect::Regex(r),
                Err(e) => {
                    let last = e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim()
                        .trim_start_matches("error: ")
                        .to_string();
                    problems.error(
                        yaml::pos(node),
                        format!(
                            "the pattern `{pattern}` is not a valid regular expression: {last}"
                        ),
                        None,
                    );
                    return None;
                }
            }
        }
        "media" => {
            let media = m
                .get_node("media")
                .and_then(|n| yaml::as_str(n, "`media`", problems))
                .map(str::to_string);
            let kind = match media {
                None => None,
                Some(k) => match MediaKind::parse(&k) {
                    Some(k) => Some(k),
                    None => {
                        problems.error(
                            yaml::pos(m.get_node("media")?),
                            format!("`{k}` is not a media kind"),
                            Some("use image, video, audio, document or sticker".into()),
                        );
                        return None;
                    }
                },
            };
            Expect::Media(kind)
        }
        "address" => Expect::Address,
        other => {
            let hint = did_you_mean(other, EXPECT)
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("choose one of: {}", EXPECT.join(", ")));
            problems.error(
                yaml::pos(m.get_node("expect")?),
                format!("`expect: {other}` is not something Parley can check"),
                Some(hint),
            );
            return None;
        }
    })
}

/// With `expect: address` the question goes out as WhatsApp's address form: its text
/// (header, footer) and `country` (`IN`, or `SG`).
fn address_prompt(
    expect: &Expect,
    prompt: Option<SendSpec>,
    m: &marked_yaml::types::MarkedMappingNode,
    value: &YamlNode,
    problems: &mut Problems,
) -> Option<Option<SendSpec>> {
    let country_node = m.get_node("country");
    if !matches!(expect, Expect::Address) {
        if let Some(n) = country_node {
            problems.error(
                yaml::pos(n),
                "`country` is only for `expect: address`",
                None,
            );
        }
        return Some(prompt);
    }
    let country = match country_node {
        None => "IN".to_string(),
        Some(n) => yaml::as_str(n, "`country`", problems)?.to_uppercase(),
    };
    if !matches!(country.as_str(), "IN" | "SG") {
        problems.error(
            yaml::pos(country_node?),
            format!("WhatsApp's address form is not offered for `{country}`"),
            Some("use `IN` (India) or `SG` (Singapore)".into()),
        );
        return None;
    }
    let Some(SendSpec {
        content: ContentSpec::Text { body },
        if_window_closed,
    }) = prompt
    else {
        problems.error(
            yaml::pos(value),
            "`expect: address` needs `text:`: the message above the address form's button (no buttons, list or media)",
            None,
        );
        return None;
    };
    let s = |key: &str, problems: &mut Problems| {
        m.get_node(key)
            .and_then(|n| yaml::as_str(n, &format!("`{key}`"), problems))
            .map(str::to_string)
    };
    Some(Some(SendSpec {
        content: ContentSpec::AddressRequest {
            body,
            header: s("header", problems),
            footer: s("footer", problems),
            country,
        },
        if_window_closed,
    }))
}

fn http(
    b: &mut Builder<'_>,
    value: &YamlNode,
    index: usize,
    problems: &mut Problems,
) -> Option<HttpSpec> {
    let m = yaml::as_map(value, "`http`", problems)?;
    yaml::check_keys(m, HTTP_KEYS, "an `http` step", problems);
    let method = match m
        .get_node("method")
        .and_then(|n| yaml::as_str(n, "`method`", problems))
    {
        None => reqwest::Method::GET,
        Some(s) => match s.to_uppercase().as_str() {
            "GET" => reqwest::Method::GET,
            "POST" => reqwest::Method::POST,
            "PUT" => reqwest::Method::PUT,
            "PATCH" => reqwest::Method::PATCH,
            "DELETE" => reqwest::Method::DELETE,
            other => {
                problems.error(
                    yaml::pos(m.get_node("method")?),
                    format!("`{other}` is not an HTTP method"),
                    Some("use GET, POST, PUT, PATCH or DELETE".into()),
                );
                return None;
            }
        },
    };
    let Some(url) = m
        .get_node("url")
        .and_then(|n| yaml::as_str(n, "`url`", problems))
    else {
        problems.error(yaml::pos(value), "`http` needs `url:`", None);
        return None;
    };
    if !(url.starts_with("https://") || url.starts_with("http://") || url.starts_with("{{")) {
        problems.error(
            yaml::pos(m.get_node("url")?),
            format!("`{url}` is not a web address"),
            Some("it must start with https:// or http://".into()),
        );
    }
    blanks::check_keys(m, &["url"], b.ctx, problems);
    private_url::check(url, m.get_node("url")?, b.ctx, problems);
    if let Some(body) = m.get_node("body") {
        blanks::check_all(body, b.ctx, problems);
    }
    let mut headers = Vec::new();
    if let Some(h) = m
        .get_node("headers")
        .and_then(|n| yaml::as_map(n, "`headers`", problems))
    {
        blanks::check_all(m.get_node("headers")?, b.ctx, problems);
        for (k, v) in h.iter() {
            if reqwest::header::HeaderName::from_bytes(k.as_str().as_bytes()).is_err() {
                problems.error(
                    yaml::scalar_pos(k),
                    format!("`{}` is not a header name", k.as_str()),
                    Some(
                        "header names are one word of letters, digits and `-`, like `X-Api-Key`"
                            .into(),
                    ),
                );
            }
            if let Some(v) = yaml::as_str(v, &format!("header `{}`", k.as_str()), problems) {
                headers.push((k.as_str().to_string(), v.to_string()));
            }
        }
    }
    let body = m.get_node("body").map(to_json);
    let timeout = m
        .get_node("timeout")
        .and_then(|n| yaml::as_duration(n, "`timeout`", problems))
        .unwrap_or(Duration::from_secs(10));
    if timeout > Duration::from_secs(30) {
        problems.error(
            yaml::pos(m.get_node("timeout")?),
            "an `http` step may wait at most 30s",
            Some("the customer is waiting for the answer".into()),
        );
    } else if timeout.is_zero() {
        problems.error(
            yaml::pos(m.get_node("timeout")?),
            "an `http` step with a `timeout` of 0 never gets an answer",
            Some("leave it out for the default, 10s, or give a few seconds".into()),
        );
    }
    let save_as = m
        .get_node("save_as")
        .and_then(|n| yaml::as_str(n, "`save_as`", problems))
        .map(|s| s.strip_prefix("vars.").unwrap_or(s).to_string());
    if let (Some(name), Some(n)) = (&save_as, m.get_node("save_as")) {
        check_save_as(name, n, problems);
    }
    let on_error = m
        .get_node("on_error")
        .map(|n| b.branch(n, index, Slot::OnError, problems));
    Some(HttpSpec {
        method,
        url: url.to_string(),
        headers,
        body,
        timeout,
        save_as,
        on_error,
    })
}

/// YAML body → JSON, keeping numbers, booleans and nulls that were written plainly, by
/// the same rule as `set` (`plain_value`): a quoted value, or one a number would change
/// (`+34600000001`), is text.
pub(super) fn to_json(node: &YamlNode) -> serde_json::Value {
    match node {
        YamlNode::Scalar(s) => {
            if let Some(value) = plain_value(node) {
                return value;
            }
            if s.may_coerce() && matches!(s.as_str(), "null" | "~") {
                return serde_json::Value::Null;
            }
            s.as_str().into()
        }
        YamlNode::Sequence(seq) => seq.iter().map(to_json).collect(),
        YamlNode::Mapping(m) => m
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), to_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

fn expr(b: &Builder<'_>, node: &YamlNode, what: &str, problems: &mut Problems) -> Option<Expr> {
    let code = yaml::as_str(node, what, problems)?;
    compile_expr(b, code, node, problems)
}

/// What a flow author means differently from what Rhai reads, in a condition or a `set`
/// value (`comparing`: an `if` or a `switch`, where a single `=` sets instead of
/// comparing). Each would fail or mislead at run time, with the customer left waiting.
fn condition_mistakes(e: &Expr, comparing: bool, problems: &mut Problems) {
    if comparing {
        if let Some(at) = script::assignment_in_condition(&e.source) {
            let fixed = format!("{}=={}", &e.source[..at], &e.source[at + 1..]);
            problems.error(
                e.at,
                format!(
                    "`{}` sets a value instead of comparing: a single `=` changes it",
                    e.source
                ),
                Some(format!("write `==` to compare: `{fixed}`")),
            );
            return;
        }
    }
    if let Some(name) = script::undefined_name(&e.source) {
        problems.error(
            e.at,
            format!(
                "`{name}` in `{}` is not something flows know: it would stop the flow when it runs",
                e.source
            ),
            Some(format!(
                "text goes in quotes (\"{name}\"); a saved value starts with vars., contact. or message. (`vars.{name}`)"
            )),
        );
    }
}

/// Compiles inline Rhai; syntax errors point at their line and column in the YAML file.
fn compile_expr(
    b: &Builder<'_>,
    code: &str,
    node: &YamlNode,
    problems: &mut Problems,
) -> Option<Expr> {
    let origin = match node {
        YamlNode::Scalar(s) => yaml::text_origin(b.source, s),
        other => (yaml::pos(other), false),
    };
    match b.ctx.rhai.compile(code) {
        Ok(ast) => Some(Expr {
            source: code.to_string(),
            ast: Arc::new(ast),
            at: origin.0,
        }),
        Err(e) => {
            let err = script::parse_error(&e);
            // Block scalars keep the script's lines and indentation, so one offset maps
            // a position inside the script to the YAML file.
            let at = match (err.line, err.column) {
                (Some(l), Some(c)) => Pos {
                    line: origin.0.line + l - 1,
                    column: origin.0.column + c - 1,
                },
                _ => origin.0,
            };
            problems.error(
                at,
                format!("script error: {}", err.message),
                Some("check the Rhai syntax near here (https://rhai.rs/book)".into()),
            );
            None
        }
    }
}

/// A script from `scripts/`; its errors name the script file.
fn compile_file_script(
    b: &Builder<'_>,
    code: &str,
    node: &YamlNode,
    problems: &mut Problems,
) -> Option<Expr> {
    match b.ctx.rhai.compile(code) {
        Ok(ast) => Some(Expr {
            source: code.to_string(),
            ast: Arc::new(ast),
            at: yaml::pos(node),
        }),
        Err(e) => {
            let err = script::parse_error(&e);
            let file = yaml::as_str(node, "`file`", problems)
                .unwrap_or_default()
                .to_string();
            problems.error(
                yaml::pos(node),
                format!(
                    "script error in {file} at line {}, column {}: {}",
                    err.line.unwrap_or(0),
                    err.column.unwrap_or(0),
                    err.message
                ),
                None,
            );
            None
        }
    }
}

/// A `set` value written as a YAML number or boolean, without quotes (`price: 10`,
/// `rate: 2.5`, `paid: true`): that number or boolean. Quoted (`"10"`) it stays text, and
/// so does anything a number would change: `+34600000001`, `007`, `1e3`, `1_000`.
fn plain_value(node: &YamlNode) -> Option<serde_json::Value> {
    let scalar = node.as_scalar().filter(|s| s.may_coerce())?;
    if let Some(b) = scalar.as_bool() {
        return Some(b.into());
    }
    let text = scalar.as_str();
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || (whole.len() > 1 && whole.starts_with('0')) {
        return None;
    }
    match fraction {
        None => text.parse::<i64>().ok().map(Into::into),
        Some(f) if all_digits(f) => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(serde_json::Value::Number),
        Some(_) => None,
    }
}

/// Where script `name` is inside `scripts`: `None` when it would lead outside (`..`, an
/// absolute path, a link pointing elsewhere).
fn script_path(scripts: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    use std::path::Component;
    let relative = std::path::Path::new(name);
    let plain = !name.trim().is_empty()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !plain {
        return None;
    }
    let path = scripts.join(relative);
    match (path.canonicalize(), scripts.canonicalize()) {
        (Ok(real), Ok(root)) if !real.starts_with(&root) => None,
        _ => Some(path),
    }
}

/// A `save_as:` names one variable: a word, with no spaces.
fn check_save_as(name: &str, node: &YamlNode, problems: &mut Problems) {
    if name.is_empty() || name.contains(char::is_whitespace) {
        problems.error(
            yaml::pos(node),
            format!("`{name}` is not a variable name"),
            Some("use one word, like `order_id`; it is kept as {{ vars.order_id }}".into()),
        );
    }
}
