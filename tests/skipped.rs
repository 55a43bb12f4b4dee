//! The last lines of `cargo test`: which tests could not run on this machine, and why.
//!
//! The PostgreSQL tests and the headless-Chromium test pass without doing anything when
//! what they need is missing (a new user's `cargo test` should be green), and the test
//! harness hides their "SKIPPED" notes. This report runs last (`harness = false`, so its
//! output is never captured) and says plainly what was not tested. With
//! `PARLEY_TEST_REQUIRE_ALL=1` (set by `.ci/run`) anything skipped fails the run instead.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

fn main() -> ExitCode {
    let skipped: Vec<String> = [postgres(), browser()].into_iter().flatten().collect();
    let require_all = std::env::var("PARLEY_TEST_REQUIRE_ALL").is_ok_and(|v| v == "1");
    println!();
    if skipped.is_empty() {
        println!("skipped tests: none (PostgreSQL and the Chromium page test ran)");
        return ExitCode::SUCCESS;
    }
    println!("SKIPPED TESTS — these passed without testing anything on this machine:");
    for line in &skipped {
        println!("  - {line}");
    }
    if require_all {
        println!("PARLEY_TEST_REQUIRE_ALL=1: a skipped test is a failure here");
        return ExitCode::FAILURE;
    }
    println!("`.ci/run` installs and starts what they need and runs them all.");
    println!();
    ExitCode::SUCCESS
}

/// The PostgreSQL store conformance suite and the PostgreSQL end-to-end tests.
fn postgres() -> Option<String> {
    const WHAT: &str = "the PostgreSQL tests (store conformance on PostgreSQL, end-to-end, \
                        two processes, outage)";
    let Ok(url) = std::env::var("PARLEY_TEST_POSTGRES_URL") else {
        return Some(format!(
            "{WHAT}: PARLEY_TEST_POSTGRES_URL is not set \
             (for example postgres://root@127.0.0.1:5432/test)"
        ));
    };
    let Some((host, port)) = host_port(&url) else {
        return Some(format!(
            "{WHAT}: PARLEY_TEST_POSTGRES_URL is not a postgres://user@host:port/db URL; they failed"
        ));
    };
    let reachable = (host.as_str(), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
    (!reachable).then(|| {
        format!("{WHAT}: nothing answers at {host}:{port} (PARLEY_TEST_POSTGRES_URL); they failed")
    })
}

/// `host` and `port` of a `postgres://user@host:port/db` URL (5432 when absent).
fn host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (host_port, 5432),
    };
    Some((
        if host.is_empty() { "localhost" } else { host }.to_string(),
        port,
    ))
}

/// The sandbox page in headless Chromium (`tests/it/sandbox_page.rs`).
fn browser() -> Option<String> {
    const WHAT: &str = "the sandbox page in headless Chromium";
    let chromium = std::env::var("PARLEY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!(
            "{WHAT}: {chromium} is missing (apt-get install chromium)"
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some(format!(
            "{WHAT}: Node.js is missing (apt-get install nodejs npm)"
        ));
    }
    let modules =
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/browser/node_modules");
    if !modules.join("playwright-core").exists() {
        return Some(format!(
            "{WHAT}: playwright-core is missing \
             (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install)"
        ));
    }
    None
}
