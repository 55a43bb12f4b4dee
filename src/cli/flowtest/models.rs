//! The language models of a flow test. A test never reaches a model over the network
//! unless it runs with `--record`:
//!
//! - **scripted**: the test's steps give the answers (`model:`); every model the config
//!   names answers from a [`ScriptedQueue`] the steps fill, and a turn that asks more often
//!   than its step gives, or leaves answers unused, fails the test at that step's line;
//! - **replay**: a test without `model:` answers whose `<stem>.exchanges.yaml` exists gets
//!   the recorded answers, each only for the very request recorded (canonical JSON, in
//!   order); the first difference fails the test;
//! - **record** (`parley test --record`): the configured models answer and each exchange
//!   is written to `<stem>.exchanges.yaml` beside the test.

use super::format::{ModelAnswer, ModelAnswers, TestFile};
use crate::config::Config;
use crate::domain::chat::{ChatAnswer, ChatRequest, ChatRole};
use crate::models::{ChatModel, Model, ModelError, Models, ScriptedQueue};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod difference;

pub use difference::{first_difference, Difference};

/// The longest value a difference shows, in characters.
const SHOWN_CHARS: usize = 160;

/// The largest recording `parley test --record` writes and a replay reads: every request
/// is kept whole (the system prompt, passages and history of each call), so a long test of
/// a long prompt outgrows the 1 MiB Parley reads of files people write.
pub const MAX_RECORDING_BYTES: u64 = 16 * 1024 * 1024;

/// The file of recorded exchanges beside a test: `order.test.yaml` → `order.exchanges.yaml`.
pub fn exchanges_path(test: &Path) -> PathBuf {
    let name = test.file_name().and_then(|n| n.to_str()).unwrap_or("test");
    let stem = name
        .strip_suffix(".test.yaml")
        .or_else(|| name.strip_suffix(".test.yml"))
        .or_else(|| name.strip_suffix(".yaml"))
        .unwrap_or(name);
    test.with_file_name(format!("{stem}.exchanges.yaml"))
}

/// One recorded call: which model, the request in full, and its answer or failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    pub model: String,
    pub request: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<ChatAnswer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExchangesFile {
    exchanges: Vec<Exchange>,
}

const FILE_HEADER: &str = "# Written by `parley test --record`: what the configured models were asked and answered\n# in this test. `parley test` replays it without calling any model; record again after\n# changing the flow, its knowledge or the test.\n";

/// Where a test's models answer from; see the module's documentation.
pub struct TestModels {
    /// The names of the configured models, sorted.
    names: Vec<String>,
    /// The configured models the flows' agent steps use (`use_flows`), sorted.
    agent_models: Vec<String>,
    mode: Mode,
}

enum Mode {
    Scripted(Scripted),
    Replay(Arc<Tape>),
    Record {
        log: Arc<Mutex<Vec<Exchange>>>,
        file: PathBuf,
    },
}

#[derive(Default)]
struct Scripted {
    queues: BTreeMap<String, ScriptedQueue>,
    /// This turn: the line of the step, and per model the requests before it and the
    /// answers it gave.
    line: usize,
    before: BTreeMap<String, usize>,
    given: BTreeMap<String, usize>,
    /// Tool call ids made unique over the whole test.
    calls: usize,
}

impl TestModels {
    /// How `test` (read from `path`) gets its models' answers. `Err` says what is wrong with
    /// its recording.
    pub fn for_test(
        config: &Config,
        path: &Path,
        test: &TestFile,
        record: bool,
    ) -> Result<Self, String> {
        let mut names: Vec<String> = config.models.iter().map(|m| m.name.clone()).collect();
        names.sort();
        let file = exchanges_path(path);
        let mode = if !test.model_answers.is_empty() {
            Mode::Scripted(Scripted::default())
        } else if record {
            Mode::Record {
                log: Arc::default(),
                file,
            }
        } else if file.exists() {
            Mode::Replay(Arc::new(Tape::load(&file)?))
        } else {
            Mode::Scripted(Scripted::default())
        };
        Ok(Self {
            names,
            agent_models: Vec::new(),
            mode,
        })
    }

    /// The models the test's Parley runs with, in place of the configured ones (which
    /// only record mode calls).
    pub fn wrap(&mut self, configured: Models) -> Models {
        let mut models = Models::default();
        for name in &self.names {
            let Some(original) = configured.get(name) else {
                continue;
            };
            let client: Arc<dyn ChatModel> = match &mut self.mode {
                Mode::Scripted(s) => Arc::new(s.queues.entry(name.clone()).or_default().clone()),
                Mode::Replay(tape) => Arc::new(Replayer {
                    name: name.clone(),
                    tape: tape.clone(),
                }),
                Mode::Record { log, .. } => Arc::new(Recorder {
                    name: name.clone(),
                    inner: original.client.clone(),
                    log: log.clone(),
                }),
            };
            models.insert(Model {
                client,
                ..original.clone()
            });
        }
        models
    }

    /// Notes which of the configured models `flows`' agent steps use: a test's `model:`
    /// list without a model's name is that model's answers when there is one.
    pub fn use_flows(&mut self, flows: &crate::flows::FlowSet) {
        let mut used: Vec<String> = flows
            .flows()
            .iter()
            .flat_map(|f| f.steps.iter())
            .filter_map(|step| match &step.op {
                crate::flows::Op::Agent(a) => Some(a.model.clone()),
                _ => None,
            })
            .filter(|m| self.names.contains(m))
            .collect();
        used.sort();
        used.dedup();
        self.agent_models = used;
    }

    /// Before the step at `line` acts: its `model:` answers go in the queues.
    pub fn before(&mut self, line: usize, answers: Option<&ModelAnswers>) -> Result<(), String> {
        let Mode::Scripted(s) = &mut self.mode else {
            if answers.is_some() {
                // Unreachable: a test with answers is scripted; kept for a clear message.
                return Err("`model:` answers and a recording cannot be mixed".into());
            }
            return Ok(());
        };
        s.line = line;
        s.before = s
            .queues
            .iter()
            .map(|(n, q)| (n.clone(), q.requests().len()))
            .collect();
        s.given.clear();
        let lists: Vec<(String, &Vec<ModelAnswer>)> = match answers {
            None => Vec::new(),
            Some(ModelAnswers::Only(list)) => match self.names.as_slice() {
                [one] => vec![(one.clone(), list)],
                // A customer and a judge for `parley eval` beside the agent's model: the
                // answers are the one model the flows' agent steps use.
                _ if self.agent_models.len() == 1 => vec![(self.agent_models[0].clone(), list)],
                [] => return Err("`model:` gives a model's answers, but the config has no `models:`".into()),
                several => {
                    return Err(format!(
                        "the config has several models ({}): say whose answers these are, like `model: {{ {}: [...] }}`",
                        several.join(", "),
                        several[0]
                    ))
                }
            },
            Some(ModelAnswers::ByModel(by_name)) => {
                let mut lists = Vec::new();
                for (name, list) in by_name {
                    if !s.queues.contains_key(name) {
                        return Err(format!(
                            "`model:` names the model `{name}`, which the config does not have; it has: {}",
                            if self.names.is_empty() { "none".to_string() } else { self.names.join(", ") }
                        ));
                    }
                    lists.push((name.clone(), list));
                }
                lists
            }
        };
        for (name, list) in lists {
            let queue = &s.queues[&name];
            for answer in list {
                match answer {
                    ModelAnswer::Answer(a) => {
                        let mut a = a.clone();
                        for call in &mut a.tool_calls {
                            s.calls += 1;
                            call.id = format!("call_{}", s.calls);
                        }
                        queue.push(a);
                    }
                    ModelAnswer::Failure(why) => queue.push_failure(why.clone()),
                }
            }
            s.given.insert(name, list.len());
        }
        Ok(())
    }

    /// After the step acted: did the flow ask its models exactly as often as the step
    /// said, and (when replaying) the very requests recorded?
    pub fn after(&mut self) -> Result<(), String> {
        match &mut self.mode {
            Mode::Scripted(s) => {
                for (name, queue) in &s.queues {
                    let requests = queue.requests();
                    let before = s.before.get(name).copied().unwrap_or(0);
                    let asked = requests.len().saturating_sub(before);
                    let given = s.given.get(name).copied().unwrap_or(0);
                    let line = s.line;
                    if asked > given {
                        let about = requests
                            .get(before + given)
                            .map(last_customer_words)
                            .unwrap_or_default();
                        let gives = match given {
                            0 => format!("line {line} gives it no answers: add them under that step with `model:` (or record them with `parley test --record`)"),
                            1 => format!("line {line} gives only 1 answer"),
                            n => format!("line {line} gives only {n} answers"),
                        };
                        let time = match given {
                            0 => String::new(),
                            n => format!(" a {} time", ordinal(n + 1)),
                        };
                        return Err(format!(
                            "the flow asked model `{name}`{time}{about}, but {gives}"
                        ));
                    }
                    let left = queue.remaining();
                    if left > 0 {
                        return Err(format!(
                            "line {line} gives model `{name}` {given} answer{}, but the flow asked it only {asked} time{}: remove the {left} unused answer{} (or check why the flow stopped asking)",
                            plural(given),
                            plural(asked),
                            plural(left)
                        ));
                    }
                }
                Ok(())
            }
            Mode::Replay(tape) => match tape.problem() {
                Some(p) => Err(p),
                None => Ok(()),
            },
            Mode::Record { .. } => Ok(()),
        }
    }

    /// At the end of a test that passed: a recording used to the last exchange, or the new
    /// recording written (and then what was written, for the report).
    pub fn finish(&self) -> Result<Option<String>, String> {
        match &self.mode {
            Mode::Scripted(_) => Ok(None),
            Mode::Replay(tape) => tape.all_used().map(|()| None),
            Mode::Record { log, file } => {
                let exchanges = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if exchanges.is_empty() {
                    return Ok(Some(
                        "the flow asked no model: nothing to record, no recording written".into(),
                    ));
                }
                let n = exchanges.len();
                write_recording(
                    file,
                    FILE_HEADER,
                    &ExchangesFile { exchanges },
                    "parley test",
                    "Split this test into shorter ones (fewer turns each), or give the model shorter instructions and knowledge",
                )?;
                Ok(Some(format!(
                    "recorded {n} model exchange{} in {}",
                    if n == 1 { "" } else { "s" },
                    file.display()
                )))
            }
        }
    }

    /// The recording this test replays or writes, for the report.
    pub fn recording(&self) -> Option<&Path> {
        match &self.mode {
            Mode::Scripted(_) => None,
            Mode::Replay(tape) => Some(&tape.file),
            Mode::Record { file, .. } => Some(file),
        }
    }
}

/// A recording being replayed, one exchange per call, in order.
struct Tape {
    file: PathBuf,
    state: Mutex<TapeState>,
}

struct TapeState {
    exchanges: Vec<Exchange>,
    next: usize,
    problem: Option<String>,
}

/// Writes a recording of model exchanges (`parley test`'s or `parley eval`'s) under
/// `header`, unless it would outgrow `MAX_RECORDING_BYTES`, which `command` reads back: then
/// the file is left as it was and `Err` says so, with `advice`.
pub(crate) fn write_recording<T: Serialize>(
    file: &Path,
    header: &str,
    value: &T,
    command: &str,
    advice: &str,
) -> Result<(), String> {
    let body =
        serde_yaml::to_string(value).map_err(|e| format!("could not write the recording: {e}"))?;
    let size = (header.len() + body.len()) as u64;
    if size > MAX_RECORDING_BYTES {
        return Err(format!(
            "the recording would take {} MiB, more than the {} MiB `{command}` reads back; {} is left as it was. {advice}",
            size.div_ceil(1024 * 1024),
            MAX_RECORDING_BYTES / (1024 * 1024),
            file.display()
        ));
    }
    std::fs::write(file, format!("{header}{body}"))
        .map_err(|e| format!("could not write {}: {e}", file.display()))
}

/// Reads a recording of model exchanges (`parley test`'s or `parley eval`'s), bounded at
/// `MAX_RECORDING_BYTES`; `Err` names the file, the line and column of a mistake, and the
/// `command` that writes it again.
pub(crate) fn read_recording<T: serde::de::DeserializeOwned>(
    file: &Path,
    command: &str,
) -> Result<T, String> {
    let shown = file.display();
    let text = crate::config::file_limits::read_limited_to(file, MAX_RECORDING_BYTES)
        .map_err(|e| format!("{shown}: {e}"))?;
    if let Err(r) = crate::config::file_limits::check_nesting(&text) {
        return Err(format!(
            "{shown}:{}:{}: {}; {}",
            r.line, r.column, r.message, r.hint
        ));
    }
    serde_yaml::from_str(&text).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        format!("{shown}:{line}:{column}: {e}; run `{command}` to write it again")
    })
}

impl Tape {
    fn load(file: &Path) -> Result<Self, String> {
        let parsed: ExchangesFile = read_recording(file, "parley test --record")?;
        Ok(Self {
            file: file.to_path_buf(),
            state: Mutex::new(TapeState {
                exchanges: parsed.exchanges,
                next: 0,
                problem: None,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TapeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn problem(&self) -> Option<String> {
        self.lock().problem.clone()
    }

    fn all_used(&self) -> Result<(), String> {
        let st = self.lock();
        if st.next < st.exchanges.len() {
            return Err(format!(
                "{} has {} exchange{}, but the flow asked its models only {} time{}; run `parley test --record` again",
                self.file.display(),
                st.exchanges.len(),
                plural(st.exchanges.len()),
                st.next,
                plural(st.next)
            ));
        }
        Ok(())
    }

    fn answer(&self, model: &str, request: &ChatRequest) -> Result<ChatAnswer, ModelError> {
        let mut st = self.lock();
        let refused = |st: &mut TapeState, why: String| {
            if st.problem.is_none() {
                st.problem = Some(why);
            }
            Err(ModelError::Failed(
                "the request differs from the recording".into(),
            ))
        };
        if st.problem.is_some() {
            return refused(&mut st, String::new());
        }
        let n = st.next;
        let again = format!(
            "if the change is intended, run `parley test --record` again to rewrite {}",
            self.file.display()
        );
        let Some(recorded) = st.exchanges.get(n).cloned() else {
            let why = format!(
                "the flow asked model `{model}` for{}, but {} holds only {} exchange{}; {again}",
                last_customer_words(request),
                self.file.display(),
                st.exchanges.len(),
                plural(st.exchanges.len())
            );
            return refused(&mut st, why);
        };
        if recorded.model != model {
            let why = format!(
                "call {} of the recording went to model `{}`, but the flow asked model `{model}`; {again}",
                n + 1,
                recorded.model
            );
            return refused(&mut st, why);
        }
        let now = serde_json::to_value(request).unwrap_or_default();
        if let Some(d) = first_difference("request", &recorded.request, &now) {
            let why = format!(
                "the flow's request to model `{model}` differs from call {} of the recording at `{}`:\n  recorded: {}\n  now:      {}\n{again}",
                n + 1,
                d.path,
                d.recorded,
                d.now
            );
            return refused(&mut st, why);
        }
        st.next += 1;
        match (recorded.answer, recorded.error) {
            (Some(answer), _) => Ok(answer),
            (None, Some(error)) => Err(ModelError::Failed(error)),
            (None, None) => Err(ModelError::Failed(format!(
                "call {} of {} has neither `answer` nor `error`",
                n + 1,
                self.file.display()
            ))),
        }
    }
}

struct Replayer {
    name: String,
    tape: Arc<Tape>,
}

#[async_trait]
impl ChatModel for Replayer {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatAnswer, ModelError> {
        self.tape.answer(&self.name, request)
    }
}

/// A configured model whose every exchange is kept for the recording.
struct Recorder {
    name: String,
    inner: Arc<dyn ChatModel>,
    log: Arc<Mutex<Vec<Exchange>>>,
}

#[async_trait]
impl ChatModel for Recorder {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatAnswer, ModelError> {
        let result = self.inner.complete(request).await;
        let exchange = Exchange {
            model: self.name.clone(),
            request: serde_json::to_value(request).unwrap_or_default(),
            answer: result.as_ref().ok().cloned(),
            error: result.as_ref().err().map(|e| e.to_string()),
        };
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(exchange);
        result
    }
}

/// ` for «the customer's last message»`, or nothing when there is none.
fn last_customer_words(request: &ChatRequest) -> String {
    request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == ChatRole::User)
        .map(|m| {
            let t: String = m.text.chars().take(80).collect();
            format!(" for «{t}»")
        })
        .unwrap_or_default()
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_difference_names_the_message_and_field() {
        let a = json!({"system": "s", "messages": [{"role": "user", "text": "hi"}, {"role": "user", "text": "order A-1"}], "max_tokens": 500});
        let b = json!({"system": "s", "messages": [{"role": "user", "text": "hi"}, {"role": "user", "text": "order A-2"}], "max_tokens": 500.0});
        let d = first_difference("request", &a, &b).unwrap();
        assert_eq!(d.path, "request.messages[1].text");
        assert_eq!(d.recorded, "«order A-1»");
        assert_eq!(d.now, "«order A-2»");
        let c =
            json!({"system": "s", "messages": [{"role": "user", "text": "hi"}], "max_tokens": 500});
        let d = first_difference("request", &a, &c).unwrap();
        assert_eq!(d.path, "request.messages[1]");
        assert_eq!(d.now, "(absent)");
        assert_eq!(first_difference("request", &a, &a.clone()), None);
    }

    #[test]
    fn a_change_deep_in_a_long_text_is_shown_where_it_is() {
        let before = format!(
            "{} Parcels ship on Monday. Thanks.",
            "You help. ".repeat(50)
        );
        let after = before.replace("Monday", "Tuesday");
        let d = first_difference(
            "request",
            &json!({"system": before}),
            &json!({"system": after}),
        )
        .unwrap();
        assert_eq!(d.path, "request.system");
        assert_ne!(d.recorded, d.now);
        assert!(
            d.recorded.contains("Parcels ship on Monday"),
            "{}",
            d.recorded
        );
        assert!(d.now.contains("Parcels ship on Tuesday"), "{}", d.now);
        assert!(d.recorded.starts_with('…') && d.recorded.ends_with("(from character 518)"));
        // Short texts that differ at once are shown whole, as before.
        let d = first_difference("r", &json!("order A-1"), &json!("order A-2")).unwrap();
        assert_eq!(
            (d.recorded.as_str(), d.now.as_str()),
            ("«order A-1»", "«order A-2»")
        );
    }

    #[test]
    fn a_recording_larger_than_a_person_writes_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("long.exchanges.yaml");
        let exchanges = (0..3)
            .map(|i| Exchange {
                model: "assistant".into(),
                request: json!({"system": "You help. ".repeat(60_000), "n": i}),
                answer: None,
                error: Some("no answer".into()),
            })
            .collect();
        let body = serde_yaml::to_string(&ExchangesFile { exchanges }).unwrap();
        std::fs::write(&file, format!("{FILE_HEADER}{body}")).unwrap();
        assert!(std::fs::metadata(&file).unwrap().len() > 1024 * 1024);
        let tape = Tape::load(&file).unwrap();
        assert_eq!(tape.lock().exchanges.len(), 3);
    }

    #[test]
    fn the_recording_sits_beside_the_test() {
        assert_eq!(
            exchanges_path(Path::new("flows/tests/support_agent.test.yaml")),
            Path::new("flows/tests/support_agent.exchanges.yaml")
        );
    }

    #[test]
    fn ordinals_read_like_words() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22].map(ordinal).to_vec();
        assert_eq!(
            got,
            ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd"]
        );
    }
}
