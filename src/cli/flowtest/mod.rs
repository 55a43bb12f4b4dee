//! `parley test [PATH...] [--junit FILE]`: runs flow test files (`flows/tests/*.test.yaml`
//! by default) against the flows, each on a fresh in-process Parley with a manual clock,
//! prints a readable report (what was expected, what the bot did, the file and line of
//! the step), and exits non-zero on any failure. The format is in `format.rs`.

pub mod format;
pub(crate) mod junit;
pub(crate) mod language;
pub mod models;
mod run;

pub use run::Failure;

use crate::config::Config;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// One test file's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The path as given (or found), for people to open.
    pub file: String,
    pub name: String,
    pub steps: usize,
    pub failure: Option<Failure>,
    /// What the test wrote, said under its line (`--record`: the recording).
    pub wrote: Option<String>,
}

/// Runs the test files; with `record`, the configured models answer and each test's
/// exchanges are written beside it (`<stem>.exchanges.yaml`).
pub fn main(config: Config, paths: Vec<PathBuf>, junit: Option<PathBuf>, record: bool) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("parley test: {e}");
            return ExitCode::FAILURE;
        }
    };
    let files = match find(&config, &paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("parley test: {e}");
            return ExitCode::FAILURE;
        }
    };
    if files.is_empty() {
        eprintln!("parley test: no test files (*.test.yaml) found");
        return ExitCode::FAILURE;
    }
    // Broken flows fail every test the same way: said once, before any test runs (each
    // test used to print them all again).
    let flows = crate::flows::load_configured(&config);
    if flows.errors() > 0 {
        eprintln!(
            "parley test: the flows have errors, so no test ran; fix these first (`parley check` says the same):\n{}",
            flows.render()
        );
        return ExitCode::FAILURE;
    }
    let mut outcomes = Vec::new();
    let mut out = std::io::stdout();
    for file in &files {
        let outcome = runtime.block_on(run_file(&config, file, record));
        let _ = std::io::Write::write_all(&mut out, render(&outcome).as_bytes());
        outcomes.push(outcome);
    }
    println!("\n{}", summary(&outcomes));
    if let Some(path) = junit {
        if let Err(e) = std::fs::write(&path, junit::xml(&outcomes)) {
            eprintln!("parley test: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if outcomes.iter().all(|o| o.failure.is_none()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The test files named by `paths` (files, or folders searched for `*.test.yaml`); the
/// flows folder's `tests/` when none is given.
pub fn find(config: &Config, paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let default = [Path::new(&config.flows.dir).join("tests")];
    let paths: &[PathBuf] = if paths.is_empty() { &default } else { paths };
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            files.extend(crate::flows::test_files(p)?);
        } else if p.is_file() {
            files.push(p.clone());
        } else if let Some(kind) = crate::config::regular_file::not_regular(p) {
            // A named pipe, say: it exists, but reading it would block.
            return Err(kind.describe(&format!("`{}`", p.display())));
        } else {
            return Err(format!("{} does not exist", p.display()));
        }
    }
    Ok(files)
}

/// The test files of the flows folder's `tests/` that cannot be read, one line each as
/// `parley check` prints them (`file:line:col: error: …`): `check` reads them as `test`
/// would, without running them.
pub fn unreadable_tests(config: &Config) -> Vec<String> {
    let dir = Path::new(&config.flows.dir).join("tests");
    if !dir.is_dir() {
        return Vec::new();
    }
    let files = match find(config, &[dir]) {
        Ok(files) => files,
        Err(e) => return vec![e],
    };
    files
        .iter()
        .filter_map(|path| {
            let problem = match crate::config::file_limits::read_limited(path) {
                Err(message) => (1, None, message),
                Ok(text) => match format::parse(&text) {
                    Ok(_) => return None,
                    Err(e) => (
                        e.line,
                        e.column,
                        format!("the test file is not valid: {}", e.message),
                    ),
                },
            };
            let (line, column, message) = problem;
            Some(format!(
                "{}:{line}:{}: error: {message}",
                path.display(),
                column.unwrap_or(1)
            ))
        })
        .collect()
}

pub async fn run_file(config: &Config, path: &Path, record: bool) -> Outcome {
    run_file_with(config, path, record, &crate::flows::Overrides::new()).await
}

/// As `run_file`, against flows with unsaved texts standing in for some files (the
/// studio runs a flow's tests on the version being typed).
pub async fn run_file_with(
    config: &Config,
    path: &Path,
    record: bool,
    overrides: &crate::flows::Overrides,
) -> Outcome {
    let file = path.display().to_string();
    let text = match crate::config::file_limits::read_limited(path) {
        Ok(t) => t,
        Err(message) => {
            return Outcome {
                name: file.clone(),
                file,
                steps: 0,
                failure: Some(Failure {
                    step: 0,
                    line: 1,
                    column: None,
                    message,
                }),
                wrote: None,
            }
        }
    };
    let test = match format::parse(&text) {
        Ok(t) => t,
        Err(e) => {
            return Outcome {
                name: "(a test file Parley cannot read)".into(),
                file,
                steps: 0,
                failure: Some(Failure {
                    step: 0,
                    line: e.line,
                    column: e.column,
                    message: format!("the test file is not valid: {}", e.message),
                }),
                wrote: None,
            }
        }
    };
    let (wrote, failure) = match run::run(config, path, &test, record, overrides).await {
        Ok(wrote) => (wrote, None),
        Err(failure) => (None, Some(failure)),
    };
    Outcome {
        file,
        name: test.name.clone(),
        steps: test.steps.len(),
        failure,
        wrote,
    }
}

/// One test's lines of the report.
pub fn render(o: &Outcome) -> String {
    match &o.failure {
        None => {
            let steps = o.steps;
            let mut line = format!(
                "✓ {} ({}, {steps} step{})\n",
                o.name,
                o.file,
                if steps == 1 { "" } else { "s" }
            );
            if let Some(wrote) = &o.wrote {
                line.push_str(&format!("    {wrote}\n"));
            }
            line
        }
        Some(f) => {
            let place = match f.column {
                Some(c) => format!("{}:{}:{c}", o.file, f.line),
                None => format!("{}:{}", o.file, f.line),
            };
            let at = if f.step == 0 {
                place
            } else {
                format!("Step {} ({place})", f.step)
            };
            let message = f.message.replace('\n', "\n    ");
            format!("✗ {} ({})\n    {at}: {message}\n", o.name, o.file)
        }
    }
}

pub fn summary(outcomes: &[Outcome]) -> String {
    let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
    let n = outcomes.len();
    format!(
        "{n} test{}: {} passed, {failed} failed",
        if n == 1 { "" } else { "s" },
        n - failed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test file that is a named pipe was reported as missing, and reading it would have
    /// blocked `parley test` until something wrote to the pipe.
    #[cfg(unix)]
    #[test]
    fn a_named_pipe_as_a_test_file_is_refused_in_plain_words() {
        use crate::config::regular_file::testing::{mkfifo, promptly};
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("pipe.test.yaml");
        mkfifo(&pipe);
        let config = Config::embedded_default();
        let shown = pipe.display().to_string();
        let err = find(&config, std::slice::from_ref(&pipe)).unwrap_err();
        assert_eq!(
            err,
            format!("`{shown}` is not a regular file (it is a named pipe); Parley reads only ordinary files")
        );
        // Found in a folder, it fails its own run at once instead of blocking.
        let found = find(&config, &[dir.path().to_path_buf()]).unwrap();
        assert_eq!(found, vec![pipe]);
        let outcome = promptly(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(run_file(&config, &found[0], false))
        });
        assert_eq!(
            outcome.failure.unwrap().message,
            "the file is not a regular file (it is a named pipe); Parley reads only ordinary files"
        );
    }

    /// A broken `text_matches` pattern was found only when its step ran: `parley check`,
    /// which reads the test files without running them, said nothing.
    #[test]
    fn check_reports_a_broken_text_matches_pattern_at_its_place() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tests")).unwrap();
        let test = dir.path().join("tests").join("ping.test.yaml");
        std::fs::write(
            &test,
            "name: ping\nsteps:\n  - customer: ping\n  - expect_reply: { text_matches: \"pong (\" }\n",
        )
        .unwrap();
        let mut config = Config::embedded_default();
        config.flows.dir = dir.path().display().to_string();
        let problems = unreadable_tests(&config);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with(&format!(
                "{}:4:35: error: the test file is not valid: step 2: expect_reply: `text_matches` is not a pattern Parley can read: `pong (` (unclosed group)",
                test.display()
            )),
            "{}",
            problems[0]
        );
    }
}
