//! The flow studio's runs of unsaved flows (`/studio/api/try` and `/studio/api/tests`):
//! a fresh in-process Parley (`driver`) with the text being typed standing in for its
//! file, as `parley simulate` and `parley test` run one. HTTP sits below the command line
//! on the layer map, so `parley serve` hands this runner to the studio's handlers
//! (`http::state::StudioRunner`), which check and bound the requests.
//!
//! Each call runs on the caller's thread with a runtime of its own: the tried Parley's
//! workers never share the daemon's, and its futures need not be `Send`.

use super::driver::Driver;
use super::flowtest::{self, Outcome};
use super::simulate::{describe, Choice};
use crate::config::Config;
use crate::domain::PhoneNumber;
use crate::engine::trace::TraceStep;
use crate::flows::{Flow, Origin, Overrides};
use crate::http::state::StudioRunner;
use crate::sandbox::choices::{self, TryChoices};
use crate::sandbox::inject::{CustomerMessage, Tap};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The customer of a try.
const CUSTOMER: &str = "+15550100100";

/// The studio's runner: the command line's driver and flow tests.
pub struct Runs;

impl StudioRunner for Runs {
    fn try_out(
        &self,
        config: Config,
        start: DateTime<Utc>,
        overrides: Overrides,
        flow: String,
        messages: Vec<String>,
        choices: TryChoices,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Value>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let run = replay(config, start, overrides, flow, messages, choices);
            tokio::time::timeout(timeout, run)
                .await
                .map_err(|_| {
                    anyhow::anyhow!(
                        "the try took longer than {}s; try fewer messages (a flow that waits on a slow model or web call?)",
                        timeout.as_secs()
                    )
                })?
        })
    }

    fn tests(
        &self,
        config: Config,
        files: Vec<PathBuf>,
        overrides: Overrides,
        shown: String,
        timeout: Duration,
    ) -> Vec<Value> {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot start a runtime for the studio's tests");
                return Vec::new();
            }
        };
        let outcomes = runtime.block_on(run_all(&config, &files, &overrides, timeout));
        outcomes.iter().map(|o| outcome_json(&shown, o)).collect()
    }

    fn test_file_problem(&self, text: &str) -> Option<(usize, Option<usize>, String)> {
        let e = flowtest::format::parse(text).err()?;
        Some((
            e.line,
            e.column,
            format!("the test file is not valid: {}", e.message),
        ))
    }
}

/// Starts a Parley with the override, gives the customer the language and arms chosen,
/// replays `messages`, stops it.
async fn replay(
    config: Config,
    start: DateTime<Utc>,
    overrides: Overrides,
    flow_id: String,
    messages: Vec<String>,
    choices: TryChoices,
) -> anyhow::Result<Vec<Value>> {
    let mut driver = Driver::start_with(config, start, |m| m, &overrides).await?;
    if !choices.is_empty() {
        let customer = driver.state.sandbox.customer(PhoneNumber::parse(CUSTOMER)?);
        let state = &driver.state;
        choices::apply(&state.store, state.clock.as_ref(), &customer, &choices).await?;
    }
    let flow = driver.state.engine.flows().get(&flow_id).cloned();
    let templates = driver.state.config.templates.clone();
    let mut offered: Vec<Choice> = Vec::new();
    let mut turns = Vec::new();
    let mut failed = None;
    for text in messages {
        let msg = customer_message(&text, &offered);
        let turn = match driver.say(msg).await {
            Ok(turn) => turn,
            Err(e) => {
                failed = Some(e);
                break;
            }
        };
        let mut replies = Vec::new();
        for m in &turn.replies {
            let (_, choices) = describe(m, &templates);
            if !choices.is_empty() {
                offered = choices.clone();
            }
            let buttons: Option<Vec<&str>> =
                (!choices.is_empty()).then(|| choices.iter().map(|c| c.title.as_str()).collect());
            replies.push(json!({ "text": m.summary, "buttons": buttons, "kind": m.kind }));
        }
        let (steps, elsewhere) = turn
            .trace
            .as_ref()
            .map(|t| trace_nodes(flow.as_deref(), &t.trace.steps))
            .unwrap_or_default();
        let decisions = turn.trace.as_ref().map(|t| t.trace.decisions.clone());
        turns.push(json!({
            "customer": text,
            "replies": replies,
            "trace": { "flow": flow_id, "steps": steps, "elsewhere": elsewhere },
            "decisions": decisions.unwrap_or_default(),
        }));
    }
    driver.stop().await;
    match failed {
        Some(e) => Err(e),
        None => Ok(turns),
    }
}

/// The message as the customer sends it: a tap when it is the title of a button or list
/// row the bot offered last, else a text.
fn customer_message(text: &str, offered: &[Choice]) -> CustomerMessage {
    let mut msg = CustomerMessage {
        from: CUSTOMER.into(),
        ..Default::default()
    };
    match offered.iter().find(|c| c.title == text) {
        Some(c) => {
            let tap = Some(Tap {
                id: c.id.clone(),
                title: Some(c.title.clone()),
            });
            if c.list {
                msg.list = tap;
            } else {
                msg.button = tap;
            }
        }
        None => msg.text = Some(text.to_string()),
    }
    msg
}

/// The steps a turn ran, as node ids of the tried flow's graph; the steps of other flows
/// as `flow: step 2 (line 17)`.
fn trace_nodes(flow: Option<&Flow>, steps: &[TraceStep]) -> (Vec<String>, Vec<String>) {
    let mut here = Vec::new();
    let mut elsewhere = Vec::new();
    for s in steps {
        match flow.filter(|f| f.id == s.flow).and_then(|f| node_of(f, s)) {
            Some(id) => here.push(id),
            None => elsewhere.push(format!("{}: {}", s.flow, s.place())),
        }
    }
    (here, elsewhere)
}

/// The node of the step a trace names: by its id, else by its line and kind.
fn node_of(flow: &Flow, s: &TraceStep) -> Option<String> {
    if let Some(id) = &s.id {
        return Some(id.clone());
    }
    let index = flow.steps.iter().position(|step| {
        step.origin != Origin::Added && step.at.line == s.line && step.op.name() == s.op
    })?;
    Some(crate::studio::drawing::node_id(flow, index))
}

/// Runs `files` one after the other until `timeout` has passed; those not finished by
/// then fail saying so.
async fn run_all(
    config: &Config,
    files: &[PathBuf],
    overrides: &Overrides,
    timeout: Duration,
) -> Vec<Outcome> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut outcomes = Vec::new();
    for path in files {
        let ran = tokio::time::timeout_at(
            deadline,
            flowtest::run_file_with(config, path, false, overrides),
        )
        .await;
        outcomes.push(ran.unwrap_or_else(|_| Outcome {
            file: path.display().to_string(),
            name: file_name(path),
            steps: 0,
            failure: Some(flowtest::Failure {
                step: 0,
                line: 1,
                column: None,
                message: format!(
                    "not finished: the studio runs tests for {}s in all; run `parley test` for the rest",
                    timeout.as_secs()
                ),
            }),
            wrote: None,
        }));
    }
    outcomes
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// One test as the page reads it; `shown` is the flows folder as the page names it.
fn outcome_json(shown: &str, o: &Outcome) -> Value {
    let failure = o.failure.as_ref().map(|f| {
        json!({
            "step": f.step,
            "line": f.line,
            "column": f.column,
            "message": f.message,
        })
    });
    json!({
        "file": format!("{shown}/tests/{}", file_name(Path::new(&o.file))),
        "name": o.name,
        "passed": o.failure.is_none(),
        "failure": failure,
    })
}
