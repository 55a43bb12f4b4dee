//! `parley check`: the config, the folders Parley writes, the models' files, every flow
//! and the flows' test files, read as `serve` and `parley test` would read them; each
//! problem printed, and a failing exit when there is one.

use crate::cli::config_file::load_config;
use crate::cli::serve::override_listen;
use std::path::Path;
use std::process::ExitCode;

pub fn check(config_path: Option<&Path>, listen: Option<&str>) -> ExitCode {
    let name = config_path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(embedded default)".into());
    let mut config = match load_config(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = override_listen(&mut config, listen) {
        println!("{name}: {e}");
        return ExitCode::FAILURE;
    }
    // Folders Parley must write, as the service's user would find them.
    let places = crate::config::places::problems(&config);
    for p in &places {
        println!("{name}: {p}");
    }
    if !places.is_empty() {
        return ExitCode::FAILURE;
    }
    // The models' own files (a scripted model's rules) are read as the daemon would.
    if let Err(problems) = crate::models::Models::from_config(&config) {
        for p in problems {
            println!("{name}: {p}");
        }
        return ExitCode::FAILURE;
    }
    let report = crate::flows::load_configured(&config);
    if !report.problems.is_empty() {
        println!("{}", report.render());
    }
    // How much of each flow's texts each of its languages translates.
    for line in crate::flows::languages::coverage_lines(&report.coverage) {
        println!("{line}");
    }
    // The flows' test files, read as `parley test` would (not run).
    let mut tests = crate::cli::flowtest::unreadable_tests(&config);
    tests.extend(crate::cli::eval::format::unreadable_evals(&config));
    for t in &tests {
        println!("{t}");
    }
    let flows = report.set.as_ref().map(|s| s.len());
    // With errors the flows do not load: whether there would be none is not known.
    let warnings = config.warnings(flows.unwrap_or(1));
    for w in &warnings {
        println!("{name}: warning: {w}");
    }
    let ready = match flows {
        Some(n) if report.errors() == 0 => format!("; {n} flow(s) ready"),
        _ => String::new(),
    };
    let config_warnings = match warnings.len() {
        0 => String::new(),
        n => format!(" with {n} warning(s)"),
    };
    let tests_line = match tests.len() {
        0 => String::new(),
        n => format!("; {n} test file(s) with errors"),
    };
    println!(
        "{name}: config ok{config_warnings}; flows in {}: {} error(s), {} warning(s){ready}{tests_line}",
        config.flows.dir,
        report.errors(),
        report.warnings(),
    );
    if report.errors() == 0 && tests.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
