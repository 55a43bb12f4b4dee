//! `parley eval [PATH...] [--runs N] [--min-pass R] [--junit FILE] [--record]` (issue 59):
//! scenario files beside the flows (`flows/evals/*.eval.yaml`) give a simulated customer
//! — a persona, a goal, what they know, how they write, when they give up — and what must
//! hold. Each scenario runs N times on a fresh in-process Parley with a manual clock
//! (`cli::driver`), the customer and the judge being models of the config's `models:`;
//! the report gives the pass rate per scenario and check, the failing transcripts with the
//! judge's reasons, and the tokens and cost of the agent, the customer and the judge.
//!
//! - `format.rs`: the scenario file, read with every mistake at its line and column;
//! - `run.rs`: one run (the customer's turns against the bot) into a `Transcript`, and the
//!   runs of a scenario in parallel within the models' concurrency;
//! - `judge.rs`: the judge's verdict on each rubric criterion;
//! - `checks.rs`: the scenario's checks over a transcript;
//! - `report.rs`: pass rates, the report, JUnit and the exit code;
//! - `tape.rs`: `--record` and the offline replay of the three roles' exchanges.

pub mod checks;
pub mod format;
pub mod judge;
pub mod report;
pub mod run;
pub mod tape;

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    #[arg(long, env = "PARLEY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Runs of each scenario (each scenario's `runs:`, else 5).
    #[arg(long)]
    pub runs: Option<u32>,
    /// The share of runs (0 to 1) each scenario must pass; below it the command fails.
    #[arg(long, default_value_t = 1.0)]
    pub min_pass: f64,
    /// Also write the results as JUnit XML to FILE.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Call the configured models and write each scenario's exchanges beside it
    /// (`<stem>.exchanges.yaml`), which later runs replay offline.
    #[arg(long)]
    pub record: bool,
    /// Scenario files or folders (default: the flows folder's `evals/`).
    pub paths: Vec<PathBuf>,
}

/// `parley eval …`.
pub fn main(args: EvalArgs) -> ExitCode {
    let _ = args;
    eprintln!("parley eval: not built yet");
    ExitCode::FAILURE
}
