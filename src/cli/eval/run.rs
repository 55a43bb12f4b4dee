//! One run of a scenario into a `Transcript`, and a scenario's runs in parallel (issue 59).
//! The shapes below are what `checks`, `judge` and `report` read.
//!
//! Each run is a fresh in-process Parley (`cli::driver`) with a manual clock: the customer
//! writes (its opening, its script, or what its model writes after each of the bot's
//! turns), the bot answers, and the run ends when the customer is done or gives up, the
//! flow's run is over, or the script ends. The models are built once per `Session`, so
//! every run shares each model's transport and its `concurrency` limit.

use super::format::{Outcome, Scenario};
use super::tape::{self, AgentModel, RecordedRun, RunTape};
use crate::cli::driver::Driver;
use crate::config::Config;
use crate::domain::chat::ChatAnswer;
use crate::models::{Model, Models};
use crate::sandbox::inject::CustomerMessage;
use chrono::TimeZone;
use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod customer;

pub use customer::CUSTOMER_SYSTEM;

/// The most customer messages of one run.
pub const MAX_TURNS: u32 = 50;
/// The longest customer message, in characters (a longer one is cut).
pub const MESSAGE_CHARS: usize = 4_096;
/// The most runs of one scenario going at once.
pub const MAX_PARALLEL_RUNS: usize = 8;

pub use super::transcript::{ToolCall, Transcript, Turn, Usage};

/// One run's transcript and the judge's verdicts on it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub transcript: Transcript,
    pub verdicts: Vec<super::judge::Verdict>,
}

/// Built once per `parley eval`: the configured models (shared by every run, so their
/// `concurrency` limits hold across runs) and where answers come from (live, `--record`,
/// replay).
pub struct Session {
    config: Config,
    models: Models,
    record: bool,
    /// With `record`: each scenario's recording and its runs, written by `finish`.
    recordings: Mutex<Vec<(PathBuf, Vec<RecordedRun>)>>,
}

impl Session {
    pub fn new(config: &Config, record: bool) -> Result<Session, String> {
        let models = Models::from_config(config).map_err(|p| p.join("; "))?;
        Ok(Session {
            config: config.clone(),
            models,
            record,
            recordings: Mutex::default(),
        })
    }

    /// Runs `scenario` (read from `path`) `runs` times, in parallel within the models'
    /// concurrency; each run judged on `rubric` (empty: no judge call). `Err`: the scenario
    /// cannot run at all (a model the config does not have, an unreadable recording).
    pub async fn run_scenario(
        &self,
        scenario: &Scenario,
        path: &Path,
        runs: u32,
        rubric: &[String],
    ) -> Result<Vec<RunResult>, String> {
        let c = &scenario.customer;
        if c.script.is_empty() {
            match &c.model {
                Some(name) => self.model(name, "customer")?,
                None => {
                    return Err(
                        "the customer has neither a `model` nor a `script`: name a model of the config's `models:`, or write the messages under `script:`"
                            .into(),
                    )
                }
            };
        }
        if let (Some(judge), false) = (&scenario.judge, rubric.is_empty()) {
            self.model(judge, "judge")?;
        }
        let file = tape::exchanges_path(path);
        let recorded = if !self.record && file.exists() {
            Some(tape::load(&file)?)
        } else {
            None
        };
        let mut tapes = Vec::new();
        for run in 1..=runs {
            let tape = match &recorded {
                _ if self.record => Ok(RunTape::record(run, &file)),
                None => Ok(RunTape::live(run)),
                Some(list) => match list.iter().find(|r| r.run == run) {
                    Some(r) => Ok(RunTape::replay(run, &file, r.exchanges.clone())),
                    None => Err(format!(
                        "run {run} does not replay {}: it holds {} run{}; run `parley eval --record` again with as many runs",
                        file.display(),
                        list.len(),
                        if list.len() == 1 { "" } else { "s" }
                    )),
                },
            };
            tapes.push((run, tape.map(Arc::new)));
        }
        let mut results: Vec<(RunResult, Option<RecordedRun>)> =
            futures::stream::iter(tapes.into_iter().map(|(run, tape)| async move {
                match tape {
                    Ok(tape) => {
                        let result = self.run_one(scenario, run, &tape, rubric).await;
                        (result, tape.recorded())
                    }
                    Err(error) => (failed(run, error), None),
                }
            }))
            .buffer_unordered(MAX_PARALLEL_RUNS)
            .collect()
            .await;
        results.sort_by_key(|(r, _)| r.transcript.run);
        if self.record {
            let runs = results.iter().filter_map(|(_, r)| r.clone()).collect();
            self.recordings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((file, runs));
        }
        Ok(results.into_iter().map(|(r, _)| r).collect())
    }

    /// After all scenarios: writes recordings (with `--record`); `Err` says what failed.
    /// The lines to print, like `recorded flows/evals/x.exchanges.yaml (42 exchanges)`.
    pub fn finish(self) -> Result<Vec<String>, String> {
        let recordings = self
            .recordings
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        let mut lines = Vec::new();
        let mut problems = Vec::new();
        for (file, runs) in recordings {
            match tape::write(&file, runs) {
                Ok(line) => lines.push(line),
                Err(e) => problems.push(e),
            }
        }
        if problems.is_empty() {
            Ok(lines)
        } else {
            Err(problems.join("\n"))
        }
    }

    fn model(&self, name: &str, role: &str) -> Result<&Model, String> {
        self.models.get(name).ok_or_else(|| {
            let mut names: Vec<&str> = self.models.names().collect();
            names.sort();
            format!(
                "the {role} model `{name}` is not in the config's `models:`; it has: {}",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            )
        })
    }

    /// One run, judged.
    async fn run_one(
        &self,
        scenario: &Scenario,
        run: u32,
        tape: &Arc<RunTape>,
        rubric: &[String],
    ) -> RunResult {
        let mut t = Transcript {
            run,
            ..Transcript::default()
        };
        if let Err(e) = self.converse(scenario, tape, &mut t).await {
            t.error = Some(e);
        }
        // A replay that differs is why whatever followed went wrong.
        if let Some(p) = tape.problem() {
            t.error = Some(p);
        }
        let mut verdicts = Vec::new();
        if t.error.is_none() && !rubric.is_empty() {
            let judge = scenario.judge.as_deref().and_then(|n| self.models.get(n));
            for criterion in rubric {
                let Some(model) = judge else {
                    verdicts.push(super::judge::Verdict {
                        criterion: criterion.clone(),
                        pass: false,
                        reason: "no judge model: name one of the config's `models:` as the scenario's `judge:`".into(),
                    });
                    continue;
                };
                let (verdict, answer) = super::judge::judge(tape, model, criterion, &t).await;
                if let Some(answer) = answer {
                    add_usage(&mut t, "judge", model, &answer);
                }
                verdicts.push(verdict);
            }
            if let Some(p) = tape.problem() {
                t.error = Some(p);
            }
        }
        if t.error.is_none() {
            t.error = tape.unused();
        }
        RunResult {
            transcript: t,
            verdicts,
        }
    }

    /// The conversation of one run on a fresh Parley, into `t`.
    async fn converse(
        &self,
        scenario: &Scenario,
        tape: &Arc<RunTape>,
        t: &mut Transcript,
    ) -> Result<(), String> {
        let mut models = Models::default();
        for name in self.models.names() {
            if let Some(original) = self.models.get(name) {
                models.insert(Model {
                    client: Arc::new(AgentModel {
                        tape: tape.clone(),
                        model: original.clone(),
                    }),
                    ..original.clone()
                });
            }
        }
        let start = chrono::Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
        let mut driver = Driver::start_with(
            self.config.clone(),
            start,
            |_configured| models,
            &crate::flows::Overrides::new(),
        )
        .await
        .map_err(|e| format!("Parley could not start with these flows: {e:#}"))?;
        let talked = self.talk(&mut driver, scenario, tape, t).await;
        let ended = match talked {
            Ok(errored) => read_end(&driver, scenario, errored, t).await,
            Err(e) => Err(e),
        };
        driver.stop().await;
        ended
    }

    /// The customer's turns until the run ends; `Ok(true)`: the bot's last turn had an
    /// error.
    async fn talk(
        &self,
        driver: &mut Driver,
        scenario: &Scenario,
        tape: &RunTape,
        t: &mut Transcript,
    ) -> Result<bool, String> {
        let c = &scenario.customer;
        if let Some(language) = &c.language {
            let declares = driver
                .state
                .engine
                .flows()
                .get(&scenario.flow)
                .is_some_and(|f| !f.languages.is_empty());
            if declares {
                let name = scenario.contact_name.as_deref();
                crate::cli::flowtest::language::set_language(
                    driver,
                    &scenario.phone,
                    name,
                    language,
                )
                .await
                .map_err(|e| format!("the customer's language could not be set: {e:#}"))?;
            }
        }
        let mut script: std::collections::VecDeque<String> = if c.script.is_empty() {
            Default::default()
        } else {
            c.opening.iter().chain(&c.script).cloned().collect()
        };
        let mut started = false;
        let mut errored = false;
        loop {
            let sent = t.turns.len() as u32;
            if sent >= MAX_TURNS {
                t.ended = format!("stopped after {MAX_TURNS} messages, the most a run takes");
                return Ok(errored);
            }
            let next = if !c.script.is_empty() {
                match script.pop_front() {
                    Some(m) => customer::Next::Say(m),
                    None => customer::Next::Done("script ended".into()),
                }
            } else if let (0, Some(opening)) = (sent, &c.opening) {
                customer::Next::Say(opening.clone())
            } else {
                let name = c.model.as_deref().unwrap_or_default();
                let model = self.model(name, "customer")?;
                let (next, answer) = customer::next(tape, model, c, &t.turns).await?;
                add_usage(t, "customer", model, &answer);
                next
            };
            let text = match next {
                customer::Next::Done(why) => {
                    t.ended = why;
                    return Ok(errored);
                }
                customer::Next::Say(_) if c.gives_up_after > 0 && sent >= c.gives_up_after => {
                    t.ended = format!("gave up after {sent} messages");
                    return Ok(errored);
                }
                customer::Next::Say(text) => cut(&text, MESSAGE_CHARS),
            };
            let msg = CustomerMessage {
                name: scenario.contact_name.clone(),
                ..CustomerMessage::text(&scenario.phone, &text)
            };
            let turn = driver.say(msg).await.map_err(|e| {
                format!("the bot could not be driven at message {}: {e:#}", sent + 1)
            })?;
            let read = customer::read_turn(t, text, &turn, &scenario.flow);
            started |= read.started;
            errored = read.errored;
            if !started {
                return Err(customer::not_started(scenario, &turn));
            }
            let contact = driver
                .contact(&scenario.phone)
                .await
                .map_err(|e| format!("the contact could not be read: {e:#}"))?;
            if contact.is_none_or(|c| c.run.is_none() || c.handed_off) {
                t.ended = "the conversation ended".into();
                return Ok(errored);
            }
        }
    }
}

/// How the flow stood at the end, and the contact's variables.
async fn read_end(
    driver: &Driver,
    scenario: &Scenario,
    errored: bool,
    t: &mut Transcript,
) -> Result<(), String> {
    let contact = driver
        .contact(&scenario.phone)
        .await
        .map_err(|e| format!("the contact could not be read: {e:#}"))?;
    let Some(contact) = contact else {
        return Err("the customer never reached the bot".into());
    };
    t.vars = contact.vars.into_iter().collect();
    t.outcome = Some(if contact.handed_off {
        Outcome::HandedOff
    } else if contact.run.is_some() {
        Outcome::Waiting
    } else if errored {
        Outcome::Dropped
    } else {
        Outcome::Finished
    });
    Ok(())
}

/// Adds one answer's tokens and cost to `role`'s usage.
fn add_usage(t: &mut Transcript, role: &'static str, model: &Model, answer: &ChatAnswer) {
    let u = t.usage.entry(role).or_default();
    u.calls += 1;
    u.input_tokens += answer.usage.input_tokens;
    u.output_tokens += answer.usage.output_tokens;
    u.cost += crate::domain::chat::dollars(model.prices.cost_micros(answer.usage));
}

/// A run that could not be made.
fn failed(run: u32, error: String) -> RunResult {
    RunResult {
        transcript: Transcript {
            run,
            error: Some(error),
            ..Transcript::default()
        },
        verdicts: Vec::new(),
    }
}

/// `text` cut to `max` characters.
fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
