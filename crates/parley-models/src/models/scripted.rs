//! Models that need no network.
//!
//! - [`Scripted`] (`kind: scripted`): answers from a rules file, so the example project's
//!   agent flow works in the sandbox without an API key. Each rule may have a `when`
//!   regular expression over the customer's last message; the first rule that matches
//!   answers, with text (`say`), a tool call (`tool` and `arguments`), or both; `$1`,
//!   `${name}`… take the expression's captures. When the request ends with the result of
//!   a call a rule made, that rule's `then` text is the answer.
//! - [`ScriptedQueue`]: answers a flow test pushed, one per call, and keeps every request.

use super::{ChatModel, ModelError};
use crate::domain::chat::{ChatAnswer, ChatMessage, ChatRequest, ChatRole, ToolCall, Usage};
use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The largest compiled `when` expression (the regex crate's own measure).
const MAX_REGEX_BYTES: usize = 256 * 1024;

/// The answer after a tool's result when the rule that called it has no `then`.
const DEFAULT_THEN: &str = "Done.";

/// The prefix of the ids of the calls a rule makes: `scripted-{rule}-{n}`, so the rule is
/// found again when its call's result comes back.
const CALL_ID_PREFIX: &str = "scripted-";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    when: Option<String>,
    #[serde(default)]
    say: Option<String>,
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    arguments: Option<serde_yaml::Value>,
    #[serde(default)]
    then: Option<String>,
}

#[derive(Debug)]
struct Rule {
    when: Option<Regex>,
    say: Option<String>,
    tool: Option<(String, Value)>,
    then: Option<String>,
}

/// A model answering from rules; see the module's documentation.
#[derive(Debug)]
pub struct Scripted {
    /// The rules file, for messages.
    file: String,
    rules: Vec<Rule>,
}

impl Scripted {
    /// Reads and checks a rules file. Each problem is `file:line:column: what is wrong`.
    pub fn load(path: &Path) -> Result<Self, Vec<String>> {
        let file = path.display().to_string();
        let text = crate::config::file_limits::read_limited(path)
            .map_err(|e| vec![format!("{file}: {e}")])?;
        Self::parse(&text, &file)
    }

    /// Checks rules given as text; `file` names them in messages.
    pub fn parse(text: &str, file: &str) -> Result<Self, Vec<String>> {
        let at = |line: usize, column: usize, what: &str| format!("{file}:{line}:{column}: {what}");
        if let Err(r) = crate::config::file_limits::check_nesting(text) {
            return Err(vec![at(
                r.line,
                r.column,
                &format!("{}; {}", r.message, r.hint),
            )]);
        }
        let raw: RawRules = serde_yaml::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map_or((1, 1), |l| (l.line(), l.column()));
            vec![at(
                line,
                column,
                &format!(
                    "{e}; a rules file is `rules:` and a list of rules with `when`, `say`, `tool`, `arguments` and `then`"
                ),
            )]
        })?;
        let places = rule_places(text);
        let mut problems = Vec::new();
        let mut rules = Vec::with_capacity(raw.rules.len());
        for (i, r) in raw.rules.into_iter().enumerate() {
            let place = places.get(i).copied().unwrap_or_default();
            let (line, column) = place.rule;
            let mut problem = |(line, column): (usize, usize), what: String| {
                problems.push(at(line, column, &format!("rule {}: {what}", i + 1)))
            };
            let when = match r.when.as_deref().map(|w| {
                regex::RegexBuilder::new(w)
                    .size_limit(MAX_REGEX_BYTES)
                    .build()
            }) {
                None => None,
                Some(Ok(re)) => Some(re),
                Some(Err(e)) => {
                    problem(
                        place.when.unwrap_or((line, column)),
                        format!(
                            "`when` is not a regular expression Parley can use: {}",
                            regex_reason(&e.to_string())
                        ),
                    );
                    None
                }
            };
            if r.say.is_none() && r.tool.is_none() {
                problem(
                    (line, column),
                    "says nothing and calls no tool: give it `say: \"…\"` or `tool: NAME`".into(),
                );
            }
            if r.tool.is_none() && (r.then.is_some() || r.arguments.is_some()) {
                problem(
                    (line, column),
                    "`then` and `arguments` belong to a tool call: add `tool: NAME` or remove them"
                        .into(),
                );
            }
            let arguments = match r.arguments.map(serde_json::to_value) {
                None => Value::Object(Default::default()),
                Some(Ok(v @ Value::Object(_))) => v,
                Some(_) => {
                    problem(
                        (line, column),
                        "`arguments` must be a group of settings like `{ order_number: \"$1\" }`"
                            .into(),
                    );
                    Value::Null
                }
            };
            rules.push(Rule {
                when,
                say: r.say,
                tool: r.tool.map(|t| (t, arguments)),
                then: r.then,
            });
        }
        if problems.is_empty() {
            Ok(Self {
                file: file.to_string(),
                rules,
            })
        } else {
            Err(problems)
        }
    }

    fn answer(&self, request: &ChatRequest) -> Result<ChatAnswer, ModelError> {
        let customer = last_customer_text(&request.messages);
        // The result of a call one of the rules made: that rule's `then`.
        if let Some(last) = request.messages.last().filter(|m| m.role == ChatRole::Tool) {
            let rule = last
                .tool_call_id
                .as_deref()
                .and_then(|id| id.strip_prefix(CALL_ID_PREFIX))
                .and_then(|rest| rest.split('-').next())
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| self.rules.get(n));
            let text = match rule {
                Some(rule) => match &rule.then {
                    Some(then) => expand(rule, customer, then),
                    None => DEFAULT_THEN.to_string(),
                },
                None => DEFAULT_THEN.to_string(),
            };
            return Ok(with_usage(request, text, Vec::new()));
        }
        let (index, rule) = self
            .rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.when.as_ref().is_none_or(|re| re.is_match(customer)))
            .ok_or_else(|| {
                ModelError::Failed(format!(
                    "no rule of {} matches the customer's message, and it has no rule without `when` to answer everything else",
                    self.file
                ))
            })?;
        let text = rule
            .say
            .as_deref()
            .map(|s| expand(rule, customer, s))
            .unwrap_or_default();
        let calls = match &rule.tool {
            Some((name, arguments)) => vec![ToolCall {
                id: format!("{CALL_ID_PREFIX}{index}-{}", request.messages.len()),
                name: name.clone(),
                arguments: expand_value(rule, customer, arguments),
            }],
            None => Vec::new(),
        };
        Ok(with_usage(request, text, calls))
    }
}

#[async_trait]
impl ChatModel for Scripted {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatAnswer, ModelError> {
        self.answer(request)
    }
}

/// The text of the customer's last message ("" when there is none).
fn last_customer_text(messages: &[ChatMessage]) -> &str {
    messages
        .iter()
        .rev()
        .find(|m| m.role == ChatRole::User)
        .map_or("", |m| m.text.as_str())
}

/// `template` with `$1`, `${name}`… taken from the rule's `when` over `customer`.
fn expand(rule: &Rule, customer: &str, template: &str) -> String {
    match rule.when.as_ref().and_then(|re| re.captures(customer)) {
        Some(caps) => {
            let mut out = String::new();
            caps.expand(template, &mut out);
            out
        }
        None => template.to_string(),
    }
}

fn expand_value(rule: &Rule, customer: &str, value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(expand(rule, customer, s)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| expand_value(rule, customer, v))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), expand_value(rule, customer, v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// An answer with tokens estimated at four characters each, so costs show in the sandbox.
fn with_usage(request: &ChatRequest, text: String, tool_calls: Vec<ToolCall>) -> ChatAnswer {
    let asked = request.system.chars().count()
        + request
            .messages
            .iter()
            .map(|m| m.text.chars().count() + m.tool_calls.len() * 32)
            .sum::<usize>()
        + request
            .tools
            .iter()
            .map(|t| t.name.len() + t.description.len() + t.parameters.to_string().len())
            .sum::<usize>();
    let said = text.chars().count()
        + tool_calls
            .iter()
            .map(|c| c.name.len() + c.arguments.to_string().len())
            .sum::<usize>();
    ChatAnswer {
        text,
        tool_calls,
        usage: Usage {
            input_tokens: (asked as u64).div_ceil(4),
            output_tokens: (said as u64).div_ceil(4).max(1),
        },
    }
}

/// The regex crate's reason without its drawing of the expression: its last line.
fn regex_reason(text: &str) -> &str {
    let last = text.lines().last().unwrap_or(text).trim();
    last.strip_prefix("error: ").unwrap_or(last)
}

#[derive(Debug, Clone, Copy, Default)]
struct RulePlace {
    rule: (usize, usize),
    when: Option<(usize, usize)>,
}

/// Where each rule (and its `when`) is written, 1-based; empty when the file does not
/// parse (serde_yaml's error then has the place).
fn rule_places(text: &str) -> Vec<RulePlace> {
    let Ok(node) = marked_yaml::parse_yaml(0, text) else {
        return Vec::new();
    };
    let place = |n: &marked_yaml::Node| n.span().start().map_or((1, 1), |m| (m.line(), m.column()));
    let Some(rules) = node
        .as_mapping()
        .and_then(|m| m.get_node("rules"))
        .and_then(|n| n.as_sequence())
    else {
        return Vec::new();
    };
    rules
        .iter()
        .map(|r| RulePlace {
            // A mapping's own span starts at its first value: point at its first key.
            rule: r
                .as_mapping()
                .and_then(|m| m.keys().next())
                .and_then(|k| k.span().start())
                .map_or_else(|| place(r), |m| (m.line(), m.column())),
            when: r.as_mapping().and_then(|m| m.get_node("when")).map(place),
        })
        .collect()
}

/// A model for flow tests: answers from a queue the test fills, one per call, and keeps
/// every request it got. Clones share the queue.
#[derive(Debug, Clone, Default)]
pub struct ScriptedQueue {
    inner: Arc<Mutex<QueueState>>,
}

#[derive(Debug, Default)]
struct QueueState {
    answers: VecDeque<Result<ChatAnswer, String>>,
    requests: Vec<ChatRequest>,
}

impl ScriptedQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// The answer to a coming call, after those pushed before it.
    pub fn push(&self, answer: ChatAnswer) {
        self.lock().answers.push_back(Ok(answer));
    }

    /// A coming call fails with `message`, as a model that is down would.
    pub fn push_failure(&self, message: impl Into<String>) {
        self.lock().answers.push_back(Err(message.into()));
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.lock().requests.clone()
    }

    /// Answers pushed and not yet given.
    pub fn remaining(&self) -> usize {
        self.lock().answers.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // A test that panicked while holding the lock left plain data: keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl ChatModel for ScriptedQueue {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatAnswer, ModelError> {
        let mut state = self.lock();
        state.requests.push(request.clone());
        match state.answers.pop_front() {
            Some(answer) => answer.map_err(ModelError::Failed),
            None => Err(ModelError::Failed(
                "the test gave no model answer for this call".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: &str = r#"rules:
  - when: "(?i)\\b(A-\\d{5})\\b"
    tool: save
    arguments: { order_number: "$1" }
    then: "Thanks, I noted order $1. Anything else?"
  - when: "(?i)person|human|agent"
    tool: handoff
  - when: "(?i)ship|deliver"
    say: "We ship in 2-3 working days."
  - say: "I can help with orders and deliveries."
"#;

    fn ask(model: &Scripted, messages: Vec<ChatMessage>) -> ChatAnswer {
        model
            .answer(&ChatRequest {
                system: "Be brief.".into(),
                messages,
                tools: vec![],
                max_tokens: 100,
            })
            .unwrap()
    }

    #[test]
    fn the_first_matching_rule_answers_with_text_or_a_tool_call() {
        let model = Scripted::parse(RULES, "rules.yaml").unwrap();
        let a = ask(&model, vec![ChatMessage::user("When do you deliver?")]);
        assert_eq!(a.text, "We ship in 2-3 working days.");
        assert!(a.tool_calls.is_empty());
        assert!(a.usage.input_tokens > 0 && a.usage.output_tokens > 0);

        let a = ask(
            &model,
            vec![ChatMessage::user("my order is a-12345, thanks")],
        );
        assert_eq!(a.text, "");
        assert_eq!(a.tool_calls.len(), 1);
        assert_eq!(a.tool_calls[0].name, "save");
        assert_eq!(
            a.tool_calls[0].arguments,
            json!({"order_number": "a-12345"})
        );

        let a = ask(&model, vec![ChatMessage::user("a human please")]);
        assert_eq!(a.tool_calls[0].name, "handoff");
        assert_eq!(a.tool_calls[0].arguments, json!({}));

        let a = ask(&model, vec![ChatMessage::user("hello")]);
        assert_eq!(a.text, "I can help with orders and deliveries.");
    }

    #[test]
    fn after_a_tool_result_the_rule_that_called_it_says_then() {
        let model = Scripted::parse(RULES, "rules.yaml").unwrap();
        let first = ask(&model, vec![ChatMessage::user("order A-00042")]);
        let call = first.tool_calls[0].clone();
        let after = ask(
            &model,
            vec![
                ChatMessage::user("order A-00042"),
                ChatMessage::assistant("", vec![call.clone()]),
                ChatMessage::tool_result(call.id.clone(), "saved"),
            ],
        );
        assert_eq!(after.text, "Thanks, I noted order A-00042. Anything else?");
        assert!(after.tool_calls.is_empty());
        // A rule without `then`, or a call no rule made: a short default.
        let handoff = ask(&model, vec![ChatMessage::user("agent")]).tool_calls[0].clone();
        let after = ask(
            &model,
            vec![
                ChatMessage::user("agent"),
                ChatMessage::assistant("", vec![handoff.clone()]),
                ChatMessage::tool_result(handoff.id, "handed off"),
            ],
        );
        assert_eq!(after.text, DEFAULT_THEN);
        let after = ask(&model, vec![ChatMessage::tool_result("call_x", "ok")]);
        assert_eq!(after.text, DEFAULT_THEN);
    }

    #[test]
    fn without_a_default_rule_an_unmatched_message_is_an_error() {
        let model = Scripted::parse("rules:\n  - when: hi\n    say: hello\n", "r.yaml").unwrap();
        let err = model
            .answer(&ChatRequest {
                system: String::new(),
                messages: vec![ChatMessage::user("bye")],
                tools: vec![],
                max_tokens: 10,
            })
            .unwrap_err();
        assert!(
            err.to_string().contains("no rule of r.yaml matches"),
            "{err}"
        );
    }

    #[test]
    fn mistakes_are_named_at_their_place() {
        let problems = Scripted::parse(
            "rules:\n  - say: ok\n  - when: \"(unclosed\"\n    say: x\n  - when: x\n  - say: y\n    then: z\n",
            "rules.yaml",
        )
        .unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert_eq!(
            problems[0],
            "rules.yaml:3:11: rule 2: `when` is not a regular expression Parley can use: unclosed group"
        );
        assert!(
            problems[1].starts_with("rules.yaml:5:5: rule 3: says nothing and calls no tool"),
            "{}",
            problems[1]
        );
        assert!(
            problems[2].starts_with("rules.yaml:6:5: rule 4: `then` and `arguments` belong"),
            "{}",
            problems[2]
        );
        let problems = Scripted::parse("rules:\n  - sya: hi\n", "rules.yaml").unwrap_err();
        assert!(
            problems[0].starts_with("rules.yaml:2:5: rules[0]: unknown field `sya`"),
            "{problems:?}"
        );
        let problems = Scripted::parse("rules:\n  - say: [1, 2\n", "rules.yaml").unwrap_err();
        assert!(problems[0].starts_with("rules.yaml:"), "{problems:?}");
    }

    #[test]
    fn a_huge_or_deep_file_is_refused_before_parsing() {
        let deep = format!("rules: {}", "[".repeat(10_000));
        let problems = Scripted::parse(&deep, "rules.yaml").unwrap_err();
        assert!(problems[0].contains("nested more than"), "{problems:?}");
        let regex = format!("rules:\n  - when: \"{}\"\n    say: x\n", "(a{1000}){1000}");
        let problems = Scripted::parse(&regex, "rules.yaml").unwrap_err();
        assert!(problems[0].contains("rules.yaml:2:11"), "{problems:?}");
    }

    #[tokio::test]
    async fn a_queue_answers_in_order_and_keeps_the_requests() {
        let queue = ScriptedQueue::new();
        queue.push(ChatAnswer {
            text: "one".into(),
            ..Default::default()
        });
        let request = ChatRequest {
            system: "s".into(),
            messages: vec![ChatMessage::user("hi")],
            tools: vec![],
            max_tokens: 10,
        };
        let model: Arc<dyn ChatModel> = Arc::new(queue.clone());
        assert_eq!(model.complete(&request).await.unwrap().text, "one");
        queue.push_failure("the model is down");
        assert_eq!(
            model.complete(&request).await.unwrap_err(),
            ModelError::Failed("the model is down".into())
        );
        assert_eq!(
            model.complete(&request).await.unwrap_err(),
            ModelError::Failed("the test gave no model answer for this call".into())
        );
        assert_eq!(
            queue.requests(),
            vec![request.clone(), request.clone(), request]
        );
        assert_eq!(queue.remaining(), 0);
    }
}
