//! `parley eval --record` and the offline replay (issue 59). With `--record` the configured
//! models answer and every exchange of the three roles (the agent, the customer, the judge)
//! is written beside the scenario as `<stem>.exchanges.yaml`, one list per run. Without it,
//! when that file exists, each run answers from its own list, in order, and no model is
//! called: each request must be the one recorded, and the first difference fails the run
//! saying where it is (as `parley test` does, whose comparison this reuses).

use crate::cli::flowtest::models::first_difference;
use crate::domain::chat::{ChatAnswer, ChatRequest};
use crate::models::{ChatModel, Model, ModelError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The file of recorded exchanges beside a scenario: `order.eval.yaml` →
/// `order.exchanges.yaml`.
pub fn exchanges_path(scenario: &Path) -> PathBuf {
    let name = scenario
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("eval");
    let stem = [".eval.yaml", ".eval.yml", ".yaml", ".yml"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name);
    scenario.with_file_name(format!("{stem}.exchanges.yaml"))
}

/// One recorded call: the role that made it, the model, the request in full, and its
/// answer or failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    /// `agent`, `customer` or `judge`.
    pub role: String,
    pub model: String,
    pub request: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<ChatAnswer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The exchanges of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedRun {
    pub run: u32,
    pub exchanges: Vec<Exchange>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExchangesFile {
    runs: Vec<RecordedRun>,
}

const FILE_HEADER: &str = "# Written by `parley eval --record`: what the agent's, the customer's and the judge's\n# models were asked and answered in each run of this scenario. `parley eval` replays it\n# without calling any model; record again after changing the flow or the scenario.\n";

/// Reads a recording; `Err` names the file, and the line and column of a mistake.
pub fn load(file: &Path) -> Result<Vec<RecordedRun>, String> {
    let parsed: ExchangesFile =
        crate::cli::flowtest::models::read_recording(file, "parley eval --record")?;
    Ok(parsed.runs)
}

/// Writes a recording; returns the line to print. Nothing is written past
/// `MAX_RECORDING_BYTES` (the file is left as it was).
pub fn write(file: &Path, mut runs: Vec<RecordedRun>) -> Result<String, String> {
    runs.sort_by_key(|r| r.run);
    let n: usize = runs.iter().map(|r| r.exchanges.len()).sum();
    crate::cli::flowtest::models::write_recording(
        file,
        FILE_HEADER,
        &ExchangesFile { runs },
        "parley eval",
        "Record fewer runs (`--runs`), or make the customer give up sooner (`gives_up_after`)",
    )?;
    Ok(format!(
        "recorded {} ({n} exchange{})",
        file.display(),
        if n == 1 { "" } else { "s" }
    ))
}

/// Where one run's models answer from.
pub struct RunTape {
    run: u32,
    file: PathBuf,
    source: Source,
}

enum Source {
    Live,
    Record(Mutex<Vec<Exchange>>),
    Replay(Mutex<Replay>),
}

struct Replay {
    exchanges: Vec<Exchange>,
    next: usize,
    problem: Option<String>,
}

impl RunTape {
    /// The configured models answer; nothing is kept.
    pub fn live(run: u32) -> Self {
        Self {
            run,
            file: PathBuf::new(),
            source: Source::Live,
        }
    }

    /// The configured models answer; every exchange is kept for `file`.
    pub fn record(run: u32, file: &Path) -> Self {
        Self {
            run,
            file: file.to_path_buf(),
            source: Source::Record(Mutex::default()),
        }
    }

    /// The run answers from `exchanges`, recorded in `file`.
    pub fn replay(run: u32, file: &Path, exchanges: Vec<Exchange>) -> Self {
        Self {
            run,
            file: file.to_path_buf(),
            source: Source::Replay(Mutex::new(Replay {
                exchanges,
                next: 0,
                problem: None,
            })),
        }
    }

    /// Asks `model` in the name of `role`, live, recorded or replayed.
    pub async fn call(
        &self,
        role: &str,
        model: &Model,
        request: &ChatRequest,
    ) -> Result<ChatAnswer, ModelError> {
        match &self.source {
            Source::Live => model.client.complete(request).await,
            Source::Record(log) => {
                let result = model.client.complete(request).await;
                let exchange = Exchange {
                    role: role.to_string(),
                    model: model.name.clone(),
                    request: serde_json::to_value(request).unwrap_or_default(),
                    answer: result.as_ref().ok().cloned(),
                    error: result.as_ref().err().map(|e| e.to_string()),
                };
                log.lock().unwrap_or_else(|e| e.into_inner()).push(exchange);
                result
            }
            Source::Replay(replay) => {
                let mut st = replay.lock().unwrap_or_else(|e| e.into_inner());
                self.replayed(&mut st, role, &model.name, request)
            }
        }
    }

    fn replayed(
        &self,
        st: &mut Replay,
        role: &str,
        model: &str,
        request: &ChatRequest,
    ) -> Result<ChatAnswer, ModelError> {
        let differs = || {
            Err(ModelError::Failed(
                "the request differs from the recording".into(),
            ))
        };
        if st.problem.is_some() {
            return differs();
        }
        let n = st.next;
        let again = format!(
            "if the change is intended, run `parley eval --record` again to rewrite {}",
            self.file.display()
        );
        let Some(recorded) = st.exchanges.get(n).cloned() else {
            st.problem = Some(format!(
                "the {role} asked model `{model}` a {} time, but the recording holds only {n} exchange{} for this run; {again}",
                ordinal(n + 1),
                if n == 1 { "" } else { "s" },
            ));
            return differs();
        };
        if recorded.role != role || recorded.model != model {
            st.problem = Some(format!(
                "call {} of the recording was the {}'s, to model `{}`, but now the {role} asked model `{model}`; {again}",
                n + 1,
                recorded.role,
                recorded.model
            ));
            return differs();
        }
        let now = serde_json::to_value(request).unwrap_or_default();
        if let Some(d) = first_difference("request", &recorded.request, &now) {
            st.problem = Some(format!(
                "the {role}'s request to model `{model}` differs from call {} of the recording at `{}`:\n  recorded: {}\n  now:      {}\n{again}",
                n + 1,
                d.path,
                d.recorded,
                d.now
            ));
            return differs();
        }
        st.next += 1;
        match (recorded.answer, recorded.error) {
            (Some(answer), _) => Ok(answer),
            (None, Some(error)) => Err(ModelError::Failed(error)),
            (None, None) => Err(ModelError::Failed(format!(
                "call {} of run {} in {} has neither `answer` nor `error`",
                n + 1,
                self.run,
                self.file.display()
            ))),
        }
    }

    /// What made the replay fail, naming the run: a request that differs, or a call past
    /// the recording.
    pub fn problem(&self) -> Option<String> {
        let Source::Replay(replay) = &self.source else {
            return None;
        };
        let st = replay.lock().unwrap_or_else(|e| e.into_inner());
        st.problem.as_ref().map(|p| {
            format!(
                "run {} does not replay {}: {p}",
                self.run,
                self.file.display()
            )
        })
    }

    /// After the run: exchanges of the recording left unused, as a problem.
    pub fn unused(&self) -> Option<String> {
        let Source::Replay(replay) = &self.source else {
            return None;
        };
        let st = replay.lock().unwrap_or_else(|e| e.into_inner());
        (st.next < st.exchanges.len()).then(|| {
            format!(
                "run {} does not replay {}: it holds {} exchanges for this run, but the run asked its models only {} time{}; run `parley eval --record` again",
                self.run,
                self.file.display(),
                st.exchanges.len(),
                st.next,
                if st.next == 1 { "" } else { "s" }
            )
        })
    }

    /// The exchanges recorded in this run (`record` only).
    pub fn recorded(&self) -> Option<RecordedRun> {
        let Source::Record(log) = &self.source else {
            return None;
        };
        let exchanges = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Some(RecordedRun {
            run: self.run,
            exchanges,
        })
    }
}

/// A configured model as the agent's flow sees it in one run: its calls go through the
/// run's tape.
pub struct AgentModel {
    pub tape: Arc<RunTape>,
    pub model: Model,
}

#[async_trait]
impl ChatModel for AgentModel {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatAnswer, ModelError> {
        self.tape.call("agent", &self.model, request).await
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recording_sits_beside_the_scenario() {
        assert_eq!(
            exchanges_path(Path::new("flows/evals/order.eval.yaml")),
            Path::new("flows/evals/order.exchanges.yaml")
        );
        assert_eq!(
            exchanges_path(Path::new("x/late.yml")),
            Path::new("x/late.exchanges.yaml")
        );
    }

    #[test]
    fn a_written_recording_reads_back_run_by_run() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.exchanges.yaml");
        let ex = |role: &str| Exchange {
            role: role.into(),
            model: "m".into(),
            request: serde_json::json!({"system": role}),
            answer: Some(ChatAnswer::default()),
            error: None,
        };
        let runs = vec![
            RecordedRun {
                run: 2,
                exchanges: vec![ex("customer")],
            },
            RecordedRun {
                run: 1,
                exchanges: vec![ex("agent"), ex("judge")],
            },
        ];
        let line = write(&file, runs).unwrap();
        assert!(line.ends_with("(3 exchanges)"), "{line}");
        let back = load(&file).unwrap();
        assert_eq!(back.iter().map(|r| r.run).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(back[0].exchanges[1].role, "judge");
        std::fs::write(&file, "runs: [ { run: 1, exchanges: [], extra: 1 } ]").unwrap();
        let err = load(&file).unwrap_err();
        assert!(err.contains("a.exchanges.yaml:1:"), "{err}");
    }
}
