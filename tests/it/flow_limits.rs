//! Hostile files (issue 13, items 2, 11 and 12): a flow file nested 5,000 levels deep saved
//! while Parley serves, and the same for `parley check`, the config and `parley test`; and
//! the mistakes `parley check` must catch before they reach customers.

use crate::helpers::*;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// The file from the issue: `steps:` and then `- ` 5,000 times (10 KB).
fn deep_flow() -> String {
    format!("id: deep\nsteps:\n{}\n", "- ".repeat(5000))
}

fn parley(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(args)
        .current_dir(dir)
        .env_remove("PARLEY_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .expect("parley runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A folder with `cfg.yaml` (two sandbox senders) and `flows/` holding `files`.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("flows/tests")).unwrap();
    std::fs::write(
        dir.path().join("cfg.yaml"),
        "database: { url: \"sqlite://parley.db\" }\nflows: { dir: flows }\nsenders:\n  - { id: 1, name: A, channel: sandbox, phone_number: \"+15550000000\" }\n  - { id: 2, name: B, channel: sandbox, phone_number: \"+15550000001\" }\n",
    )
    .unwrap();
    for (name, body) in files {
        std::fs::write(dir.path().join("flows").join(name), body).unwrap();
    }
    dir
}

#[tokio::test]
async fn a_deeply_nested_flow_saved_while_serving_is_refused_and_the_old_flows_keep_answering() {
    let app = spawn_app().await;
    std::fs::write(app.flows_dir().join("deep.yaml"), deep_flow()).unwrap();
    let ready = eventually(
        Duration::from_secs(20),
        "readyz to report the deep file",
        || async {
            let r: serde_json::Value = app
                .http
                .get(format!("{}/readyz", app.addr))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (r["flows"]["stale"] == true).then_some(r)
        },
    )
    .await;
    let problem = ready["flows"]["problems"][0].as_str().unwrap().to_string();
    assert!(
        problem.contains("deep.yaml:3:") && problem.contains("nested more than 64 levels"),
        "{ready}"
    );
    assert!(problem.contains("hint: flatten it"), "{problem}");
    // The daemon is alive and the flows loaded before still run.
    let response = app
        .post_meta(&meta_text(
            "16315551181",
            "wamid.deep.1",
            "hi there",
            now_unix(),
        ))
        .await;
    assert_eq!(response.status(), 200);
    let sends = app.wait_meta_sends(1, Duration::from_secs(10)).await;
    assert_eq!(body_text(&sends[0]), "echo: hi there");
    app.shutdown().await;
}

#[test]
fn check_refuses_a_deeply_nested_flow_with_its_place_and_exits_1() {
    let dir = project(&[("deep.yaml", &deep_flow())]);
    let out = parley(dir.path(), &["check", "--config", "cfg.yaml"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("flows/deep.yaml:3:")
            && t.contains("error: the file is nested more than 64 levels deep"),
        "{t}"
    );
}

#[test]
fn check_refuses_a_deeply_nested_config_with_its_place() {
    let dir = project(&[]);
    let deep = format!("flows: {{ dir: flows }}\nextra: {}\n", "[".repeat(50_000));
    std::fs::write(dir.path().join("deep.yaml"), deep).unwrap();
    let out = parley(dir.path(), &["check", "--config", "deep.yaml"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("deep.yaml:2:"), "{t}");
    assert!(t.contains("nested more than 64 levels"), "{t}");
}

#[test]
fn test_refuses_a_hundred_kilobytes_of_nesting_with_its_place() {
    let dir = project(&[]);
    for (name, body) in [
        (
            "brackets.test.yaml",
            format!("name: t\nsteps:\n  - customer: {}\n", "[".repeat(100_000)),
        ),
        (
            "dashes.test.yaml",
            format!("name: t\nsteps:\n{}\n", "- ".repeat(50_000)),
        ),
        (
            "maps.test.yaml",
            format!(
                "name: t\nsteps:\n  - customer_sends: {}\n",
                "{a: ".repeat(25_000)
            ),
        ),
    ] {
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    let out = parley(
        dir.path(),
        &[
            "test",
            "--config",
            "cfg.yaml",
            "brackets.test.yaml",
            "dashes.test.yaml",
            "maps.test.yaml",
        ],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    for at in [
        "brackets.test.yaml:3:",
        "dashes.test.yaml:3:",
        "maps.test.yaml:3:",
    ] {
        assert!(t.contains(at), "{at} missing in:\n{t}");
    }
    assert!(t.contains("3 tests: 0 passed, 3 failed"), "{t}");
}

#[test]
fn check_catches_what_would_reach_customers_broken() {
    let dir = project(&[
        (
            "blanks.yaml",
            "id: blanks\ntriggers: [{keyword: [b]}]\nsteps:\n  - send: \"Hi {{ contact.name | uper }}\"\n  - send: \"Hi {{ contact.name }\"\n  - send: \"Hi {{ contcat.name }}\"\n",
        ),
        (
            "net.yaml",
            "id: net\ntriggers: [{keyword: [n]}]\nsteps:\n  - http:\n      url: http://169.254.169.254/latest/meta-data/\n",
        ),
        (
            "blast.yaml",
            "id: blast\nschedule:\n  cron: \"0 10 * * *\"\nsteps:\n  - send: hi\n",
        ),
        (
            "blast9.yaml",
            "id: blast9\nschedule:\n  cron: \"0 10 * * *\"\n  sender: 9\nsteps:\n  - send: hi\n",
        ),
        (
            "spin.yaml",
            "id: spin\ntriggers: [{keyword: [s]}]\nsteps:\n  - id: top\n    send: again\n  - goto: top\n",
        ),
        (
            "menu.yaml",
            "id: menu\ntriggers: [{keyword: [m]}]\nsteps:\n  - id: top\n    ask:\n      text: Pick one\n      save_as: pick\n  - goto: top\n",
        ),
    ]);
    let out = parley(dir.path(), &["check", "--config", "cfg.yaml"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    for expected in [
        "flows/blanks.yaml:4:",
        "there is no filter `uper`",
        "did you mean `upper`?",
        "flows/blanks.yaml:5:",
        "is never closed with `}}`",
        "flows/blanks.yaml:6:",
        "did you mean `contact`?",
        "flows/net.yaml:5:12: error: `169.254.169.254` is a private or local address",
        "flows/blast.yaml:3:3: error: this scheduled flow can never run: the schedule names no `sender:`",
        "flows/blast9.yaml:4:11: error: this scheduled flow can never run: the schedule's `sender: 9`",
        "flows/spin.yaml:6:5: error: this loop (through top) goes round forever",
        "7 error(s), 0 warning(s)",
    ] {
        assert!(t.contains(expected), "`{expected}` missing in:\n{t}");
    }
    assert!(
        !t.contains("menu.yaml"),
        "a menu that asks is a fine loop:\n{t}"
    );
}

#[test]
fn check_reads_a_scripted_models_rules_and_names_a_mistake_at_its_place() {
    let dir = project(&[]);
    std::fs::create_dir_all(dir.path().join("models")).unwrap();
    std::fs::write(
        dir.path().join("models/demo.yaml"),
        "rules:\n  - when: \"(unclosed\"\n    say: hi\n",
    )
    .unwrap();
    let cfg = dir.path().join("cfg.yaml");
    let mut yaml = std::fs::read_to_string(&cfg).unwrap();
    yaml.push_str("models:\n  - { name: demo, kind: scripted, script: models/demo.yaml }\n");
    std::fs::write(&cfg, yaml).unwrap();
    let out = parley(dir.path(), &["check", "--config", "cfg.yaml"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("models[0] (demo).script:") && t.contains("demo.yaml:2:"),
        "{t}"
    );
}
