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

mod places;
mod steps;
#[cfg(test)]
mod tests;
mod unreadable;

use places::{Places, Seg};
use serde::Deserialize;
use serde_yaml::Value;
use std::collections::BTreeMap;

pub use places::Place;

#[derive(Debug)]
pub struct TestFile {
    pub name: String,
    pub phone: String,
    pub contact_name: Option<String>,
    /// The customer's language (`language: es`): the contact's `language` field before the
    /// first message.
    pub language: Option<String>,
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

/// The steps where the bot acts and so may call its model, and every kind of step: one
/// list each, which the test files' schema (`studio::schema`) describes too.
pub use crate::studio::schema::{MODEL_STEPS, TEST_STEP_KINDS as STEP_KINDS};

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
    ExpectVars(BTreeMap<String, Wanted>),
    ExpectContact(BTreeMap<String, Wanted>),
    ExpectTags(Vec<String>),
    ExpectNoTags(Vec<String>),
    Advance(std::time::Duration),
    RunSchedule(String),
    DuplicateLastWebhook,
}

/// A value `expect_vars` or `expect_contact` wants. A number keeps the text the file
/// wrote (`12.50`, `+34600000001`), which a variable saved as the customer typed it
/// matches: YAML alone reads `12.5` and `34600000001`.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    pub value: serde_json::Value,
    pub written: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectReply {
    pub text: Option<String>,
    pub text_contains: Option<String>,
    pub text_matches: Option<Pattern>,
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

/// The settings `expect_reply` and `expect_template` take, as [`ExpectReply`] names them.
pub const REPLY_SETTINGS: &[&str] = &[
    "text",
    "text_contains",
    "text_matches",
    "buttons",
    "list",
    "template",
    "template_name",
    "name",
    "variables",
    "kind",
    "status",
];

/// A `text_matches` pattern, read when the file is, so `parley check` and the test's
/// first step already say that one is broken.
#[derive(Debug, Clone)]
pub struct Pattern(regex::Regex);

impl Pattern {
    pub fn new(text: &str) -> Result<Self, String> {
        regex::Regex::new(text).map(Self).map_err(|e| {
            // The parser's own message draws a caret under the pattern on lines of their
            // own; its last line says what is wrong.
            let why = match &e {
                regex::Error::Syntax(s) => s.lines().last().unwrap_or(s).trim_start_matches("error: ").to_string(),
                other => other.to_string(),
            };
            format!("{BAD_PATTERN} `{text}` ({why}); to match one of ( ) [ ] {{ }} . * + ? | ^ $ as it is, put a backslash before it, like `pong \\(` (two backslashes inside double quotes: \"pong \\\\(\")")
        })
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }
}

/// How a pattern's error starts, so the error points at `text_matches:`.
const BAD_PATTERN: &str = "`text_matches` is not a pattern Parley can read:";

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Pattern::new(&text).map_err(serde::de::Error::custom)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Top {
    name: String,
    #[serde(default)]
    contact: Contact,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    language: Option<String>,
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
    let top: Top = serde_yaml::from_str(text).map_err(|e| unreadable::explain(text, &e))?;
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
    if let Some(l) = &top.language {
        if !crate::flows::languages::valid_code(l) {
            let at = places.top("language");
            return Err(FormatError {
                line: at.line,
                column: Some(at.column),
                message: format!("language: `{l}` is not a language code; write two or three small letters, optionally `_` and a region in capitals, like `es` or `pt_BR`"),
            });
        }
    }
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
        let step = steps::step(&raw, places.step_node(i)).map_err(at)?;
        if let Some(answers) = answers {
            model_answers.insert(i, answers);
        }
        steps.push((here, step));
    }
    Ok(TestFile {
        name: top.name,
        phone: top.contact.phone,
        contact_name: top.contact.name,
        language: top.language,
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
