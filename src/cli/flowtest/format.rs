//! The flow test file format (`*.test.yaml`), written for people who do not program:
//!
//! ```yaml
//! name: Welcome menu offers three buttons
//! contact: { phone: "+34600000001", name: Ana }
//! steps:
//!   - customer: hi
//!   - expect_reply:
//!       text_contains: "What can I do"
//!       buttons: [My order, Get a quote, Talk to a person]
//!   - customer_taps: Get a quote
//! ```
//!
//! Each step is one line of the conversation or one check; the parser remembers the line
//! of every step so a failure can point at it. A step where the customer writes (or time
//! passes) may carry what the flow's language model answers meanwhile, in order:
//!
//! ```yaml
//!   - customer: "where is my order A-12345?"
//!     model:
//!       - tool: save
//!         arguments: { order_number: "A-12345" }
//!       - say: "Order A-12345 ships tomorrow."
//! ```

use serde::Deserialize;
use serde_yaml::Value;
use std::collections::BTreeMap;

#[derive(Debug)]
pub struct TestFile {
    pub name: String,
    pub phone: String,
    pub contact_name: Option<String>,
    /// When the clock starts (RFC 3339); a fixed Monday morning by default.
    pub start: Option<chrono::DateTime<chrono::Utc>>,
    /// Each step with where it starts in the file.
    pub steps: Vec<(Place, Step)>,
    /// The model answers a step carries (`model:`), by the step's index in `steps`.
    pub model_answers: BTreeMap<usize, ModelAnswers>,
}

/// The answers of a step's `model:`: a list for the one model the flows use, or lists by
/// model name (`model: { assistant: [...], triage: [...] }`).
#[derive(Debug, Clone, PartialEq)]
pub enum ModelAnswers {
    Only(Vec<ModelAnswer>),
    ByModel(BTreeMap<String, Vec<ModelAnswer>>),
}

/// One answer of a model in a test: what it says and calls, or a failure.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelAnswer {
    Answer(crate::domain::chat::ChatAnswer),
    /// The call fails with this reason, as a model that is down would (`fail: "…"`).
    Failure(String),
}

/// The most answers one step may give (a flow test is short; a bigger number is a mistake).
pub const MAX_MODEL_ANSWERS: usize = 50;

/// The steps where the bot acts and so may call its model.
const MODEL_STEPS: &[&str] = &[
    "customer",
    "customer_taps",
    "customer_sends",
    "customer_submits_form",
    "advance",
    "run_schedule",
    "duplicate_last_webhook",
];

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Customer(String),
    CustomerTaps(String),
    /// Any sandbox message: `{ media: {kind: image, url: …} }`, `{ location: … }`…
    CustomerSends(serde_json::Value),
    /// Fills in and submits the last form (WhatsApp Flow) the bot sent.
    CustomerSubmitsForm(BTreeMap<String, serde_json::Value>),
    ExpectReply(Box<ExpectReply>),
    ExpectNoReply,
    ExpectVars(BTreeMap<String, serde_json::Value>),
    ExpectContact(BTreeMap<String, serde_json::Value>),
    ExpectTags(Vec<String>),
    ExpectNoTags(Vec<String>),
    Advance(std::time::Duration),
    RunSchedule(String),
    DuplicateLastWebhook,
}

pub const STEP_KINDS: &[&str] = &[
    "customer",
    "customer_taps",
    "customer_sends",
    "customer_submits_form",
    "expect_reply",
    "expect_template",
    "expect_no_reply",
    "expect_vars",
    "expect_contact",
    "expect_tags",
    "expect_no_tags",
    "advance",
    "run_schedule",
    "duplicate_last_webhook",
];

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectReply {
    pub text: Option<String>,
    pub text_contains: Option<String>,
    pub text_matches: Option<String>,
    /// Button titles (or ids), in order.
    pub buttons: Option<Vec<String>>,
    /// List row titles (or ids), in order.
    pub list: Option<Vec<String>>,
    /// A template's name.
    pub template: Option<String>,
    #[serde(alias = "name")]
    pub template_name: Option<String>,
    pub variables: Option<BTreeMap<String, String>>,
    /// text, buttons, list, image, template…
    pub kind: Option<String>,
    /// accepted, sent, delivered, read, failed or skipped.
    pub status: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Top {
    name: String,
    #[serde(default)]
    contact: Contact,
    #[serde(default)]
    start: Option<String>,
    steps: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Contact {
    #[serde(default = "default_phone")]
    phone: String,
    #[serde(default)]
    name: Option<String>,
}

impl Default for Contact {
    fn default() -> Self {
        Self {
            phone: default_phone(),
            name: None,
        }
    }
}

fn default_phone() -> String {
    "+15551230000".into()
}

/// Where something starts in a test file (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub line: usize,
    pub column: usize,
}

/// A problem with the file itself, at a line.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatError {
    pub line: usize,
    pub column: Option<usize>,
    pub message: String,
}

/// Parses a test file. One nested too deeply is refused before any parser builds a tree
/// of it (both parsers below recurse per level).
pub fn parse(text: &str) -> Result<TestFile, FormatError> {
    if let Err(r) = crate::config::file_limits::check_nesting(text) {
        return Err(FormatError {
            line: r.line,
            column: Some(r.column),
            message: format!("{}; {}", r.message, r.hint),
        });
    }
    let top: Top = serde_yaml::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(1);
        // Broken YAML is mostly a line out of step with those above it: say which, as
        // `parley check` does for a flow file.
        match crate::flows::out_of_step(text, line) {
            Some(off) => FormatError {
                line: off.line,
                column: Some(off.column),
                message: format!("{} (the YAML reader says: {e}); {}", off.what, off.hint),
            },
            None => FormatError {
                line,
                column: e.location().map(|l| l.column()),
                message: e.to_string(),
            },
        }
    })?;
    let places = Places::of(text);
    let start = match &top.start {
        None => None,
        Some(s) => Some(
            chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|e| {
                    let at = places.top("start");
                    FormatError {
                        line: at.line,
                        column: Some(at.column),
                        message: format!(
                            "start: `{s}` is not a date and time like 2026-01-05T09:00:00Z ({e})"
                        ),
                    }
                })?
                .with_timezone(&chrono::Utc),
        ),
    };
    let mut steps = Vec::new();
    let mut model_answers = BTreeMap::new();
    for (i, raw) in top.steps.iter().enumerate() {
        let here = places.step(i, &[]);
        let at = |e: Located| {
            let at = places.step(i, &e.path);
            FormatError {
                line: at.line,
                column: Some(at.column),
                message: format!("step {}: {}", i + 1, e.message),
            }
        };
        let (raw, answers) = split_model(raw).map_err(at)?;
        let step = step(&raw).map_err(at)?;
        if let Some(answers) = answers {
            model_answers.insert(i, answers);
        }
        steps.push((here, step));
    }
    Ok(TestFile {
        name: top.name,
        phone: top.contact.phone,
        contact_name: top.contact.name,
        start,
        steps,
        model_answers,
    })
}

/// A mistake in one step and the way from the step to the part it is about.
#[derive(Debug)]
struct Located {
    message: String,
    path: Vec<Seg>,
}

/// One part of that way: into a setting's value, to a setting's name, or to a list's item.
#[derive(Debug, Clone)]
enum Seg {
    Value(String),
    Name(String),
    Item(usize),
}

impl Located {
    fn at(path: Vec<Seg>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            path,
        }
    }
}

impl From<String> for Located {
    fn from(message: String) -> Self {
        Self::at(Vec::new(), message)
    }
}

impl From<&str> for Located {
    fn from(message: &str) -> Self {
        Self::at(Vec::new(), message)
    }
}

/// The setting serde names in an "unknown field `x`, expected …" error.
fn unknown_field(error: &str) -> Option<&str> {
    let rest = error.split("unknown field `").nth(1)?;
    rest.split('`').next()
}

/// Where the parts of a test file are: the file read again by a parser that keeps each
/// node's line and column (the steps themselves are read through `serde_yaml`, which does
/// not), so a mistake inside a step points at the setting or answer it is about.
struct Places {
    root: Option<marked_yaml::Node>,
}

impl Places {
    fn of(text: &str) -> Self {
        Self {
            root: marked_yaml::parse_yaml(0, text).ok(),
        }
    }

    /// Where a node starts: a mapping at its first setting's name (the parser's own mark
    /// for a block mapping is past it).
    fn place(node: &marked_yaml::Node) -> Option<Place> {
        let first_key = node
            .as_mapping()
            .and_then(|m| m.keys().next())
            .and_then(|k| k.span().start());
        first_key.or(node.span().start()).map(|m| Place {
            line: m.line(),
            column: m.column(),
        })
    }

    /// A top-level setting's value, or the file's start.
    fn top(&self, key: &str) -> Place {
        self.root
            .as_ref()
            .and_then(|r| r.as_mapping())
            .and_then(|m| m.get_node(key))
            .and_then(Self::place)
            .unwrap_or(Place { line: 1, column: 1 })
    }

    /// Step `i` (0-based), or the part of it `path` leads to; as far along the path as the
    /// file goes.
    fn step(&self, i: usize, path: &[Seg]) -> Place {
        let Some(mut node) = self
            .root
            .as_ref()
            .and_then(|r| r.as_mapping())
            .and_then(|m| m.get_node("steps"))
            .and_then(|n| n.as_sequence())
            .and_then(|s| s.get(i))
        else {
            return self.top("steps");
        };
        let mut place = Self::place(node).unwrap_or_else(|| self.top("steps"));
        for seg in path {
            let next = match seg {
                Seg::Value(key) => node.as_mapping().and_then(|m| m.get_node(key)),
                Seg::Name(key) => {
                    let name = node
                        .as_mapping()
                        .and_then(|m| m.keys().find(|k| k.as_str() == key));
                    if let Some(at) = name.and_then(|k| k.span().start()) {
                        place = Place {
                            line: at.line(),
                            column: at.column(),
                        };
                    }
                    break;
                }
                Seg::Item(n) => node.as_sequence().and_then(|s| s.get(*n)),
            };
            let Some(next) = next else { break };
            node = next;
            if let Some(p) = Self::place(node) {
                place = p;
            }
        }
        place
    }
}

/// The step without its `model:` answers, and those answers.
fn split_model(raw: &Value) -> Result<(Value, Option<ModelAnswers>), Located> {
    let Value::Mapping(map) = raw else {
        return Ok((raw.clone(), None));
    };
    let Some(answers) = map.get("model") else {
        return Ok((raw.clone(), None));
    };
    let mut rest = map.clone();
    rest.remove("model");
    let kind = rest.keys().next().and_then(Value::as_str).unwrap_or("");
    let model = || vec![Seg::Name("model".into())];
    if rest.len() == 1 && !MODEL_STEPS.contains(&kind) {
        return Err(Located::at(model(), format!(
            "`model:` gives the model's answers while the bot acts: put it under a step where the customer writes or time passes ({}), not under `{kind}`",
            MODEL_STEPS.join(", ")
        )));
    }
    if rest.is_empty() {
        return Err(Located::at(model(), "`model:` belongs under a step where the customer writes, like `- customer: hi` with `model:` on the next line, indented alike"));
    }
    let answers = match answers {
        Value::Sequence(_) => ModelAnswers::Only(answer_list(answers).map_err(|(rest, e)| {
            let mut path = vec![Seg::Value("model".into())];
            path.extend(rest);
            Located::at(path, e)
        })?),
        Value::Mapping(by_name) => {
            let mut lists = BTreeMap::new();
            for (name, list) in by_name {
                let name = name.as_str().ok_or_else(|| {
                    Located::at(
                        vec![Seg::Value("model".into())],
                        "`model:` takes a list of answers, or lists by model name",
                    )
                })?;
                let list = answer_list(list).map_err(|(rest, e)| {
                    let mut path = vec![Seg::Value("model".into()), Seg::Value(name.into())];
                    path.extend(rest);
                    Located::at(path, format!("model `{name}`: {e}"))
                })?;
                lists.insert(name.to_string(), list);
            }
            ModelAnswers::ByModel(lists)
        }
        _ => {
            return Err(Located::at(
                vec![Seg::Value("model".into())],
                "`model:` takes a list of answers like `- say: \"Hello\"` or `- tool: save`",
            ))
        }
    };
    Ok((Value::Mapping(rest), Some(answers)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnswer {
    #[serde(default)]
    say: Option<String>,
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    arguments: Option<Value>,
    #[serde(default)]
    fail: Option<String>,
}

/// The answers of a `model:` list; a mistake comes with the way to the part it is about
/// (empty: the list itself).
fn answer_list(value: &Value) -> Result<Vec<ModelAnswer>, (Vec<Seg>, String)> {
    let Value::Sequence(items) = value else {
        return Err((
            Vec::new(),
            "the answers are a list: each on its own `- ` line".into(),
        ));
    };
    if items.len() > MAX_MODEL_ANSWERS {
        let last = vec![Seg::Item(MAX_MODEL_ANSWERS)];
        return Err((
            last,
            format!(
                "{} answers for one step; at most {MAX_MODEL_ANSWERS}",
                items.len()
            ),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| answer(i + 1, item).map_err(|e| (vec![Seg::Item(i)], e)))
        .collect()
}

/// Answer `n` (1-based) of a `model:` list.
fn answer(n: usize, item: &Value) -> Result<ModelAnswer, String> {
    if let Value::String(text) = item {
        return Ok(ModelAnswer::Answer(crate::domain::chat::ChatAnswer {
            text: text.clone(),
            ..Default::default()
        }));
    }
    let raw: RawAnswer = serde_yaml::from_value(item.clone()).map_err(|e| {
        format!("answer {n}: {e}; an answer is `say: \"…\"`, `tool: NAME` with `arguments`, or `fail: \"why\"`")
    })?;
    if let Some(why) = raw.fail {
        if raw.say.is_some() || raw.tool.is_some() || raw.arguments.is_some() {
            return Err(format!(
                "answer {n}: `fail` stands alone: a failed call says nothing and calls no tool"
            ));
        }
        return Ok(ModelAnswer::Failure(why));
    }
    if raw.say.is_none() && raw.tool.is_none() {
        return Err(format!(
            "answer {n} says nothing and calls no tool: give it `say: \"…\"` or `tool: NAME`"
        ));
    }
    let arguments = match (&raw.tool, raw.arguments) {
        (None, Some(_)) => {
            return Err(format!(
                "answer {n}: `arguments` belong to a tool call: add `tool: NAME`"
            ))
        }
        (_, None) => serde_json::Value::Object(Default::default()),
        (_, Some(a @ Value::Mapping(_))) => {
            serde_json::to_value(a).map_err(|e| format!("answer {n}: arguments: {e}"))?
        }
        (_, Some(_)) => {
            return Err(format!(
                "answer {n}: `arguments` are settings like `{{ order_number: \"A-12345\" }}`"
            ))
        }
    };
    let tool_calls = raw
        .tool
        .map(|name| crate::domain::chat::ToolCall {
            id: format!("call_{n}"),
            name,
            arguments,
        })
        .into_iter()
        .collect();
    Ok(ModelAnswer::Answer(crate::domain::chat::ChatAnswer {
        text: raw.say.unwrap_or_default(),
        tool_calls,
        usage: Default::default(),
    }))
}

fn step(raw: &Value) -> Result<Step, Located> {
    let Value::Mapping(map) = raw else {
        return Err("a step is one line like `- customer: hi` or `- expect_reply: …`".into());
    };
    if map.len() != 1 {
        return Err("write one action or check per step (each on its own `- ` line)".into());
    }
    let (key, value) = map.iter().next().expect("one entry");
    let key = key.as_str().unwrap_or("");
    if !STEP_KINDS.contains(&key) {
        return Err(Located::at(vec![Seg::Name(key.into())], not_a_step(key)));
    }
    step_of_kind(key, value).map_err(|message| {
        let mut path = vec![Seg::Value(key.into())];
        if let Some(field) = unknown_field(&message) {
            path.push(Seg::Name(field.into()));
        }
        Located::at(path, message)
    })
}

/// What `- customer: hi` and the like say is wrong, without a place.
fn not_a_step(other: &str) -> String {
    let near = STEP_KINDS
        .iter()
        .map(|k| (crate::flows::triggers::explain::edit_distance(other, k), *k))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    format!(
        "`{other}` is not a step{near}; steps are: {}",
        STEP_KINDS.join(", ")
    )
}

/// A step of a kind Parley has (`key`), from its value.
fn step_of_kind(key: &str, value: &Value) -> Result<Step, String> {
    let text = |v: &Value| -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(format!("`{key}` takes a text")),
        }
    };
    let yes = |v: &Value| v.as_bool().unwrap_or(true);
    let json = |v: &Value| serde_json::to_value(v).map_err(|e| e.to_string());
    let map_of = |v: &Value| -> Result<BTreeMap<String, serde_json::Value>, String> {
        serde_yaml::from_value(v.clone())
            .map_err(|_| format!("`{key}` takes settings like `{{ name: value }}`"))
    };
    Ok(match key {
        "customer" => Step::Customer(text(value)?),
        "customer_taps" => Step::CustomerTaps(text(value)?),
        "customer_sends" => Step::CustomerSends(json(value)?),
        "customer_submits_form" => Step::CustomerSubmitsForm(map_of(value)?),
        "expect_reply" => match value {
            Value::String(_) | Value::Number(_) => Step::ExpectReply(Box::new(ExpectReply {
                text: Some(text(value)?),
                ..Default::default()
            })),
            other => Step::ExpectReply(Box::new(
                serde_yaml::from_value(other.clone()).map_err(|e| format!("expect_reply: {e}"))?,
            )),
        },
        "expect_template" => {
            let mut e: ExpectReply = match value {
                Value::String(name) => ExpectReply {
                    template: Some(name.clone()),
                    ..Default::default()
                },
                other => serde_yaml::from_value(other.clone())
                    .map_err(|e| format!("expect_template: {e}"))?,
            };
            e.template = e.template.or(e.template_name.take());
            if e.template.is_none() {
                return Err("expect_template needs the template's `name`".into());
            }
            Step::ExpectReply(Box::new(e))
        }
        "expect_no_reply" if yes(value) => Step::ExpectNoReply,
        "expect_vars" => Step::ExpectVars(map_of(value)?),
        "expect_contact" => Step::ExpectContact(map_of(value)?),
        "expect_tags" => Step::ExpectTags(list(value)),
        "expect_no_tags" => Step::ExpectNoTags(list(value)),
        "advance" => {
            let t = text(value)?;
            Step::Advance(crate::config::duration::parse(&t).map_err(|e| match e {
                crate::config::duration::DurationError::TooLong => {
                    format!("`advance` of {} is {e}; advance in shorter steps", t.trim())
                }
                _ => format!(
                    "advance: `{t}` is not a duration ({e}); write it like 23h, 10m or 1h 30m"
                ),
            })?)
        }
        "run_schedule" => Step::RunSchedule(text(value)?),
        "duplicate_last_webhook" if yes(value) => Step::DuplicateLastWebhook,
        "expect_no_reply" | "duplicate_last_webhook" => {
            return Err(format!("`{key}: false` does nothing; remove the step"))
        }
        other => return Err(not_a_step(other)),
    })
}

fn list(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_steps_with_their_lines() {
        let f = parse(
            "name: t\ncontact: { phone: \"+34600000001\", name: Ana }\nsteps:\n  - customer: hi\n  - expect_reply:\n      text: Hello\n      buttons: [A, B]\n  - advance: 23h\n  - expect_template: { name: cart_reminder, variables: { \"1\": Ana } }\n  - expect_no_reply: true\n",
        )
        .unwrap();
        assert_eq!(f.phone, "+34600000001");
        let lines: Vec<(usize, usize)> = f.steps.iter().map(|(p, _)| (p.line, p.column)).collect();
        assert_eq!(lines, vec![(4, 5), (5, 5), (8, 5), (9, 5), (10, 5)]);
        assert_eq!(f.steps[0].1, Step::Customer("hi".into()));
        assert_eq!(
            f.steps[2].1,
            Step::Advance(std::time::Duration::from_secs(23 * 3600))
        );
        let Step::ExpectReply(t) = &f.steps[3].1 else {
            panic!()
        };
        assert_eq!(t.template.as_deref(), Some("cart_reminder"));
    }

    #[test]
    fn mistakes_name_the_step_and_line() {
        let e = parse("name: t\nsteps:\n  - customer: hi\n  - custmer: hello\n").unwrap_err();
        assert_eq!((e.line, e.column), (4, Some(5)));
        assert!(
            e.message
                .starts_with("step 2: `custmer` is not a step (did you mean `customer`?)"),
            "{}",
            e.message
        );
        let e = parse("name: t\nsteps:\n  - advance: soon\n").unwrap_err();
        assert!(e.message.contains("is not a duration"), "{}", e.message);
    }

    #[test]
    fn a_line_out_of_step_is_named_as_in_flow_files() {
        let e =
            parse("name: t\nsteps:\n  - customer: hi\n   - expect_reply: \"Hello\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (4, Some(4)));
        assert!(
            e.message.starts_with(
                "this line is not lined up with the lines above it (the YAML reader says: "
            ),
            "{}",
            e.message
        );
        assert!(
            e.message
                .contains("line 4 starts a list item (`- `) at column 4"),
            "{}",
            e.message
        );
    }

    #[test]
    fn an_advance_past_ten_years_is_refused_at_its_line() {
        let e = parse("name: t\nsteps:\n  - customer: hi\n  - advance: 500000y\n").unwrap_err();
        assert_eq!((e.line, e.column), (4, Some(14)));
        assert_eq!(
            e.message,
            "step 2: `advance` of 500000y is longer than the longest Parley accepts, 10 years; advance in shorter steps"
        );
        assert!(parse("name: t\nsteps:\n  - advance: 10y\n").is_ok());
    }

    #[test]
    fn a_customer_line_carries_its_model_answers() {
        let f = parse("name: t\nsteps:\n  - customer: \"A-12345\"\n    model:\n      - tool: save\n        arguments: { order_number: A-12345 }\n      - say: Noted\n      - fail: down\n  - expect_reply: Noted\n").unwrap();
        assert_eq!(f.steps[0].1, Step::Customer("A-12345".into()));
        let Some(ModelAnswers::Only(answers)) = f.model_answers.get(&0) else {
            panic!("{:?}", f.model_answers)
        };
        let ModelAnswer::Answer(save) = &answers[0] else {
            panic!()
        };
        assert_eq!(save.tool_calls[0].name, "save");
        assert_eq!(
            save.tool_calls[0].arguments,
            serde_json::json!({"order_number": "A-12345"})
        );
        assert_eq!(answers[2], ModelAnswer::Failure("down".into()));
        assert!(!f.model_answers.contains_key(&1));

        let e = parse("name: t\nsteps:\n  - expect_reply: hi\n    model: [hello]\n").unwrap_err();
        assert_eq!((e.line, e.column), (4, Some(5)));
        assert!(
            e.message.contains("not under `expect_reply`"),
            "{}",
            e.message
        );
        let e =
            parse("name: t\nsteps:\n  - customer: hi\n    model:\n      - arguments: { a: 1 }\n")
                .unwrap_err();
        assert!(
            e.message
                .contains("answer 1 says nothing and calls no tool"),
            "{}",
            e.message
        );
        assert_eq!((e.line, e.column), (5, Some(9)));
    }

    /// A mistake inside a step points at the setting or answer it is about, not only at
    /// the step's line.
    #[test]
    fn mistakes_inside_a_step_point_at_their_line_and_column() {
        let at = |text: &str| {
            let e = parse(text).unwrap_err();
            (e.line, e.column.expect("a column"), e.message)
        };
        // A misspelt check inside `expect_reply`, on the step's second line.
        let (line, column, message) = at(
            "name: t\nsteps:\n  - customer: hi\n  - expect_reply:\n      text: Hello\n      text_containz: Hi\n",
        );
        assert_eq!((line, column), (6, 7), "{message}");
        assert!(
            message.contains("unknown field `text_containz`"),
            "{message}"
        );
        // The same in a one-line step.
        let (line, column, _) =
            at("name: t\nsteps:\n  - expect_reply: { text: a, buttonz: [B] }\n");
        assert_eq!((line, column), (3, 30));
        // The third answer of a `model:` list, and of a list by model name.
        let (line, column, message) = at(
            "name: t\nsteps:\n  - customer: hi\n    model:\n      - say: a\n      - say: b\n      - arguments: { a: 1 }\n",
        );
        assert_eq!((line, column), (7, 9), "{message}");
        let (line, column, message) = at(
            "name: t\nsteps:\n  - customer: hi\n    model:\n      triage:\n        - say: a\n        - fail: down\n          say: b\n",
        );
        assert_eq!((line, column), (7, 11), "{message}");
        assert!(
            message.starts_with("step 1: model `triage`: answer 2: `fail` stands alone"),
            "{message}"
        );
        // A value of the wrong kind points at the value.
        let (line, column, _) = at("name: t\nsteps:\n  - customer:\n      - a\n");
        assert_eq!((line, column), (4, 7));
        // `start:` that is not a date.
        let (line, column, _) = at("name: t\nstart: next monday\nsteps:\n  - customer: hi\n");
        assert_eq!((line, column), (2, 8));
    }
}
