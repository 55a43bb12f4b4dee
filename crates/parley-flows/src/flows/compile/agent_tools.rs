//! An `agent` step's `tools:`: the only actions its model may take. Each is checked at
//! load like the step it stands for: `save` fields like an `ask`'s `expect`, buttons like a
//! `send`'s, a handoff like a `handoff` step. An empty `tools:` is allowed (the model only
//! answers).

use super::super::model::{AgentTools, Expect, HandoffTool, SaveField};
use super::super::problem::{did_you_mean, Pos, Problems};
use super::super::yaml::{self, YamlNode};
use super::content::{buttons, check_len};
use super::{blanks, guardrails, LoadContext};
use crate::domain::limits::TEXT_MAX;

pub const TOOL_KEYS: &[&str] = &["save", "goto_flow", "handoff", "tag", "send_buttons", "end"];
pub const SAVE_KEYS: &[&str] = &["expect", "pattern", "choices", "description"];
pub const SAVE_EXPECT: &[&str] = &["text", "number", "email", "phone", "choice", "regex"];
pub const HANDOFF_KEYS: &[&str] = &["message", "timeout"];
/// Fields one agent may save; each is described to the model on every turn.
const SAVE_MAX: usize = 20;
const DESCRIPTION_MAX: usize = 500;
const NAME_MAX: usize = 64;
const CHOICES_MAX: usize = 50;
const FLOWS_MAX: usize = 50;
const TAGS_MAX: usize = 50;

pub fn compile(
    node: &YamlNode,
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) -> Option<AgentTools> {
    let m = yaml::as_map(node, "`tools`", problems)?;
    yaml::check_keys(m, TOOL_KEYS, "an agent's `tools`", problems);
    let mut tools = AgentTools::default();
    let mut ok = true;
    if let Some(n) = m.get_node("save") {
        match save(n, problems) {
            Some(fields) => tools.save = fields,
            None => ok = false,
        }
    }
    if let Some(n) = m.get_node("goto_flow") {
        match names(n, "flow id", FLOWS_MAX, problems) {
            Some(list) => {
                for (name, at) in list {
                    tools.goto_flow.push(name);
                    tools.goto_flow_at.push(at);
                }
            }
            None => ok = false,
        }
    }
    if let Some(n) = m.get_node("tag") {
        match names(n, "tag", TAGS_MAX, problems) {
            Some(list) => tools.tag = list.into_iter().map(|(t, _)| t).collect(),
            None => ok = false,
        }
    }
    if let Some(n) = m.get_node("handoff") {
        match handoff(n, ctx, problems) {
            Some(h) => tools.handoff = h,
            None => ok = false,
        }
    }
    if let Some(n) = m.get_node("send_buttons") {
        match buttons(n, problems) {
            Some(b) => tools.send_buttons = b,
            None => ok = false,
        }
    }
    if let Some(n) = m.get_node("end") {
        match yaml::as_bool(n, "`end`", problems) {
            Some(e) => tools.end = e,
            None => ok = false,
        }
    }
    ok.then_some(tools)
}

/// A list of one-word names (flow ids, tags), each once.
fn names(
    node: &YamlNode,
    what: &str,
    max: usize,
    problems: &mut Problems,
) -> Option<Vec<(String, Pos)>> {
    let items = yaml::as_list(node);
    if items.len() > max {
        problems.error(
            yaml::pos(node),
            format!("at most {max} of them, found {}", items.len()),
            None,
        );
        return None;
    }
    let mut out: Vec<(String, Pos)> = Vec::new();
    for item in items {
        let name = yaml::as_str(item, &format!("a {what}"), problems)?.trim();
        let at = yaml::pos(item);
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            problems.error(
                at,
                format!("`{name}` is not a {what}: it must be one word"),
                None,
            );
            return None;
        }
        if out.iter().any(|(n, _)| n == name) {
            problems.error(at, format!("the {what} `{name}` is listed twice"), None);
            return None;
        }
        out.push((name.to_string(), at));
    }
    Some(out)
}

/// `handoff: true`, or `handoff: { message: "…", timeout: 2h }`; `false` offers none.
fn handoff(
    node: &YamlNode,
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) -> Option<Option<HandoffTool>> {
    match node {
        YamlNode::Mapping(hm) => {
            yaml::check_keys(hm, HANDOFF_KEYS, "the `handoff` tool", problems);
            blanks::check_keys(hm, &["message"], ctx, problems);
            let message = match hm.get_node("message") {
                Some(n) => {
                    let text = yaml::as_str(n, "`message`", problems)?.to_string();
                    check_len(
                        &text,
                        TEXT_MAX,
                        "the handoff message",
                        yaml::pos(n),
                        problems,
                    );
                    super::content::check_not_blank(
                        &text,
                        "the handoff message",
                        yaml::pos(n),
                        problems,
                    );
                    Some(text)
                }
                None => None,
            };
            let timeout = match hm.get_node("timeout") {
                Some(n) => Some(super::content::handoff_timeout(n, problems)?),
                None => None,
            };
            Some(Some(HandoffTool { message, timeout }))
        }
        other if yaml::is_empty(other) => Some(Some(HandoffTool::default())),
        other => match yaml::as_str(other, "`handoff`", problems)?
            .to_lowercase()
            .as_str()
        {
            "true" | "yes" | "on" => Some(Some(HandoffTool::default())),
            "false" | "no" | "off" => Some(None),
            found => {
                problems.error(
                    yaml::pos(other),
                    format!("`handoff: {found}` is not a choice"),
                    Some("write `handoff: true`, or `handoff: { message: \"A person will answer shortly.\", timeout: 2h }`".into()),
                );
                None
            }
        },
    }
}

/// `save: { order_number: { expect: regex, pattern: "…", description: "…" }, … }`
fn save(node: &YamlNode, problems: &mut Problems) -> Option<Vec<SaveField>> {
    let m = yaml::as_map(node, "`save`", problems)?;
    if m.len() > SAVE_MAX {
        problems.error(
            yaml::pos(node),
            format!(
                "an agent may save at most {SAVE_MAX} fields, this one has {}",
                m.len()
            ),
            None,
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (k, v) in m.iter() {
        let name = k.as_str();
        if !is_variable_name(name) {
            problems.error(
                yaml::scalar_pos(k),
                format!("`{name}` is not a variable name"),
                Some(format!("use letters, digits and `_`, starting with a letter, at most {NAME_MAX} characters, like `order_number`; it is saved as {{{{ vars.<name> }}}}")),
            );
            ok = false;
            continue;
        }
        match field(name, yaml::scalar_pos(k), v, problems) {
            Some(f) => out.push(f),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= NAME_MAX
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn field(name: &str, at: Pos, node: &YamlNode, problems: &mut Problems) -> Option<SaveField> {
    if yaml::is_empty(node) {
        return Some(SaveField {
            name: name.to_string(),
            expect: Expect::Text,
            description: None,
        });
    }
    let Some(fm) = (match node {
        YamlNode::Mapping(fm) => Some(fm),
        _ => None,
    }) else {
        problems.error(
            yaml::pos(node),
            format!("the field `{name}` is a group of settings, like `{{ expect: email, description: \"the customer's email\" }}`"),
            None,
        );
        return None;
    };
    yaml::check_keys(fm, SAVE_KEYS, &format!("the field `{name}`"), problems);
    let s = |key: &str, problems: &mut Problems| {
        fm.get_node(key)
            .and_then(|n| yaml::as_str(n, &format!("`{key}`"), problems))
            .map(str::to_string)
    };
    let expect_name = s("expect", problems).unwrap_or_else(|| "text".into());
    for (key, only) in [("pattern", "regex"), ("choices", "choice")] {
        if let (Some(n), true) = (fm.get_node(key), expect_name != only) {
            problems.error(
                yaml::pos(n),
                format!("`{key}` is only for `expect: {only}`"),
                None,
            );
            return None;
        }
    }
    let expect = match expect_name.as_str() {
        "text" => Expect::Text,
        "number" => Expect::Number,
        "email" => Expect::Email,
        "phone" => Expect::Phone,
        "choice" => {
            let Some(n) = fm.get_node("choices") else {
                problems.error(
                    at,
                    format!("the field `{name}` has `expect: choice` but no `choices: [...]`: the values to accept"),
                    None,
                );
                return None;
            };
            let items = yaml::as_list(n);
            if items.is_empty() || items.len() > CHOICES_MAX {
                problems.error(
                    yaml::pos(n),
                    format!(
                        "`choices` holds 1 to {CHOICES_MAX} values, found {}",
                        items.len()
                    ),
                    None,
                );
                return None;
            }
            let mut choices = Vec::new();
            for item in items {
                choices.push(yaml::as_str(item, "a choice", problems)?.to_string());
            }
            Expect::Choice(choices)
        }
        "regex" => {
            let Some(n) = fm.get_node("pattern") else {
                problems.error(
                    at,
                    format!("the field `{name}` has `expect: regex` but no `pattern:`"),
                    Some("like `pattern: \"^A-[0-9]{5}$\"`".into()),
                );
                return None;
            };
            let p = yaml::as_str(n, "`pattern`", problems)?;
            Expect::Regex(guardrails::regex(p, n, problems)?)
        }
        other => {
            let hint = match did_you_mean(other, SAVE_EXPECT) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("a saved field is one of: {}", SAVE_EXPECT.join(", ")),
            };
            problems.error(
                yaml::pos(fm.get_node("expect")?),
                format!("`expect: {other}` is not something an agent can save"),
                Some(hint),
            );
            return None;
        }
    };
    let description = s("description", problems);
    if let (Some(d), Some(n)) = (&description, fm.get_node("description")) {
        let count = d.chars().count();
        if count > DESCRIPTION_MAX {
            problems.error(
                yaml::pos(n),
                format!("the description is {count} characters long; at most {DESCRIPTION_MAX}"),
                Some("a few words the model reads to know what the value is".into()),
            );
            return None;
        }
    }
    Some(SaveField {
        name: name.to_string(),
        expect,
        description,
    })
}
