//! One run of a scenario into a `Transcript`, and a scenario's runs in parallel (issue 59).
//! The shapes below are what `checks`, `judge` and `report` read.

use std::collections::BTreeMap;

/// What happened in one run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transcript {
    /// 1-based run number.
    pub run: u32,
    pub turns: Vec<Turn>,
    /// How the flow stood at the end.
    pub outcome: Option<super::format::Outcome>,
    /// The contact's variables at the end.
    pub vars: BTreeMap<String, serde_json::Value>,
    /// Why the customer stopped: `goal reached`, `gave up after 6 messages`, `script ended`,
    /// `the conversation ended`.
    pub ended: String,
    /// Model use per role: `agent`, `customer`, `judge`.
    pub usage: BTreeMap<&'static str, Usage>,
    /// The run could not be made (a model failed, Parley did not start): the reason. Its
    /// checks all fail with it.
    pub error: Option<String>,
}

/// One customer message and what the bot did with it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Turn {
    pub customer: String,
    /// The bot's replies, as the customer read them.
    pub replies: Vec<String>,
    /// Tool calls the agent's model proposed this turn, carried out or refused.
    pub tool_calls: Vec<ToolCall>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolCall {
    pub name: String,
    pub arguments: String,
    /// Carried out; `false`: refused (`reason` says why, as the trace does).
    pub accepted: bool,
    pub reason: Option<String>,
}

/// Tokens and cost of one role's model calls.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    pub calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// US dollars.
    pub cost: f64,
}

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
    config: crate::config::Config,
    models: crate::models::Models,
    record: bool,
}

impl Session {
    pub fn new(config: &crate::config::Config, record: bool) -> Result<Session, String> {
        let models = crate::models::Models::from_config(config).map_err(|p| p.join("; "))?;
        Ok(Session {
            config: config.clone(),
            models,
            record,
        })
    }

    /// Runs `scenario` (read from `path`) `runs` times, in parallel within the models'
    /// concurrency; each run judged on `rubric` (empty: no judge call).
    pub async fn run_scenario(
        &self,
        scenario: &super::format::Scenario,
        path: &std::path::Path,
        runs: u32,
        rubric: &[String],
    ) -> Result<Vec<RunResult>, String> {
        let _ = (
            scenario,
            path,
            rubric,
            &self.config,
            &self.models,
            self.record,
        );
        Ok((1..=runs)
            .map(|run| RunResult {
                transcript: Transcript {
                    run,
                    error: Some("not run".into()),
                    ..Transcript::default()
                },
                verdicts: Vec::new(),
            })
            .collect())
    }

    /// After all scenarios: writes recordings (with `--record`); `Err` says what failed.
    /// The lines to print, like `recorded flows/evals/x.exchanges.yaml (42 exchanges)`.
    pub fn finish(self) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }
}
