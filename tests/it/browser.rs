//! Runs a page test of `tests/browser/` (Node.js with playwright-core driving headless
//! Chromium) and fails with its output when it fails: the one runner the page tests share.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Runs `node <script> <args…>` in `tests/browser/`, within two minutes.
pub async fn run_node(script: &'static str, args: Vec<String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .args(&args)
            .current_dir(&dir)
            .output()
            .expect("node runs")
    });
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("the browser test finishes within 120 s")
        .unwrap();
    assert!(
        out.status.success(),
        "browser test {script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
