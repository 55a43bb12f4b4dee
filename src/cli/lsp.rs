//! `parley lsp`: the language server over stdio (`studio::lsp`). The config is read as
//! `parley check` reads it: `--config` when given, else the `parley.yaml` of the folder
//! the editor opened, else the embedded default; the server works in that folder, so the
//! config's relative folders (`flows/`) are the project's. Flow test files
//! (`flows/tests/*.test.yaml`) are checked here, with the test runner's own reader.

use crate::cli::config_file::load_config;
use crate::config::Config;
use crate::flows::{Problem, Severity};
use crate::studio::analysis::Project;
use crate::studio::lsp::{self, Ending, Setup};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

pub fn main(config: Option<&Path>) -> ExitCode {
    // The config given on the command line is named from where the command runs.
    let given = config.map(|c| std::path::absolute(c).unwrap_or_else(|_| c.to_path_buf()));
    let (connection, io) = lsp::stdio();
    let ending = lsp::serve(&connection, |root| setup(given, root));
    drop(connection);
    io.join();
    match ending {
        Ok(Ending::Shutdown) => ExitCode::SUCCESS,
        Ok(Ending::Abrupt) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("parley lsp: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The project in the folder the editor opened.
fn setup(given: Option<PathBuf>, root: Option<PathBuf>) -> Setup {
    if let Some(root) = &root {
        // Relative folders in the config (and the embedded default's `flows/`) are the
        // project's.
        let _ = std::env::set_current_dir(root);
    }
    let file = given.or_else(|| {
        let found = Path::new("parley.yaml");
        found
            .is_file()
            .then(|| std::path::absolute(found).unwrap_or(found.into()))
    });
    let (config, notice) = match load_config(file.as_deref()) {
        Ok(config) => (config, None),
        Err(e) => (
            Config::embedded_default(),
            Some(format!(
                "Parley could not read its config, so flows are checked against the default one: {e}"
            )),
        ),
    };
    let project = Project::new(Arc::new(config.clone()));
    let project = match file {
        Some(f) if notice.is_none() => project.with_config_file(f),
        _ => project,
    };
    Setup {
        project,
        other_files: Some(Box::new(move |path, text| {
            test_file_problems(&config, path, text)
        })),
        notice,
    }
}

/// The problems of a flow test file (`tests/*.test.yaml` of the flows folder, the files
/// `parley test` finds) as `parley check` reports them; `None` for any other file. The
/// studio page's server can check test files with it too.
pub fn test_file_problems(config: &Config, path: &Path, text: &str) -> Option<Vec<Problem>> {
    let tests = Path::new(&config.flows.dir).join("tests");
    let name = path.file_name()?.to_string_lossy();
    if path.parent() != Some(tests.as_path())
        || !(name.ends_with(".test.yaml") || name.ends_with(".test.yml"))
    {
        return None;
    }
    Some(match crate::cli::flowtest::format::parse(text) {
        Ok(_) => Vec::new(),
        Err(e) => vec![Problem {
            file: path.display().to_string(),
            line: e.line.max(1),
            column: e.column.unwrap_or(1).max(1),
            severity: Severity::Error,
            message: format!("the test file is not valid: {}", e.message),
            hint: None,
        }],
    })
}
