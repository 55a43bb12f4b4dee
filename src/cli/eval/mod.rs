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
#[cfg(test)]
mod tests;
pub mod transcript;

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
    let config = match crate::cli::config_file::load_config(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("parley eval: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    if !(0.0..=1.0).contains(&args.min_pass) {
        eprintln!(
            "parley eval: --min-pass is a share of runs from 0 to 1, like 0.8; got {}",
            args.min_pass
        );
        return ExitCode::FAILURE;
    }
    if args.runs.is_some_and(|n| n == 0 || n > format::MAX_RUNS) {
        eprintln!(
            "parley eval: --runs is a whole number from 1 to {}",
            format::MAX_RUNS
        );
        return ExitCode::FAILURE;
    }
    match evaluate(&config, &args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("parley eval: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads every scenario, runs the readable ones, prints the report and writes JUnit:
/// `Ok(true)` when every scenario met `--min-pass`. A scenario file with a mistake stops
/// everything before any model is called.
fn evaluate(config: &crate::config::Config, args: &EvalArgs) -> Result<bool, String> {
    let paths = if args.paths.is_empty() {
        vec![format::evals_dir(config)]
    } else {
        args.paths.clone()
    };
    let files = format::find(&paths)?;
    if files.is_empty() {
        return Err(format!(
            "no scenario files (*{}) in {}; write one (the README's \"Evaluating agents\")",
            format::SUFFIX,
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let flows = crate::flows::load_configured(config);
    if flows.errors() > 0 {
        return Err(format!(
            "the flows have errors, so no scenario ran; fix these first (`parley check` says the same):\n{}",
            flows.render()
        ));
    }
    let known = format::known(config);
    let mut scenarios = Vec::new();
    let mut mistakes = Vec::new();
    for file in &files {
        match format::read_file(file, &known) {
            Ok(s) => scenarios.push((file, s)),
            Err(problems) => mistakes.extend(problems),
        }
    }
    if !mistakes.is_empty() {
        for m in &mistakes {
            eprintln!("{m}");
        }
        return Err(format!(
            "no scenario ran: {} mistake(s) in the scenario files",
            mistakes.len()
        ));
    }
    let session = run::Session::new(config, args.record)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut reports = Vec::new();
    for (file, scenario) in &scenarios {
        let runs = scenario.runs.or(args.runs).unwrap_or(format::DEFAULT_RUNS);
        let results =
            runtime.block_on(session.run_scenario(scenario, file, runs, &scenario.expect.rubric));
        let report = scenario_report(scenario, &file.display().to_string(), results);
        print!("{}", report::render_scenario(&report, args.min_pass));
        reports.push(report);
    }
    let recorded = session.finish();
    println!("{}", report::summary(&reports, args.min_pass));
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&reports))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    for line in recorded? {
        println!("{line}");
    }
    Ok(!report::failed(&reports, args.min_pass))
}

/// A scenario's runs checked into its report.
pub fn scenario_report(
    scenario: &format::Scenario,
    file: &str,
    results: Result<Vec<run::RunResult>, String>,
) -> report::ScenarioReport {
    let (runs, error) = match results {
        Ok(results) => (
            results
                .into_iter()
                .map(|r| report::RunReport {
                    checks: checks::check(scenario, &r.transcript, &r.verdicts),
                    transcript: r.transcript,
                    verdicts: r.verdicts,
                })
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(e)),
    };
    report::ScenarioReport {
        name: scenario.name.clone(),
        file: file.to_string(),
        checks: checks::names(scenario),
        runs,
        error,
    }
}
