//! `parley init` end to end through the real binary: the project it writes passes
//! `parley check` and `parley test`, serves with the printed API key, and a second `init`
//! into the same folder overwrites nothing.

use crate::first_run::{all_text, parley_in, Daemon};
use parley::cli::init::PROJECT_FILES;
use serde_json::Value;
use sha2::{Digest, Sha256};

#[tokio::test]
async fn init_writes_a_project_that_checks_tests_and_serves_with_the_printed_key() {
    let home = tempfile::tempdir().unwrap();
    let out = parley_in(home.path(), &["init", "bot"]);
    let t = all_text(&out);
    assert!(out.status.success(), "{t}");
    let project = home.path().join("bot");
    let config = project.join("parley.yaml");
    for file in [
        "parley.yaml",
        "flows/welcome.yaml",
        "flows/tests/welcome.test.yaml",
        "scripts/order_summary.rhai",
    ] {
        assert!(project.join(file).is_file(), "{file} written: {t}");
    }
    let key = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("export PARLEY_KEY="))
        .expect("the key, as a line to paste")
        .to_string();
    assert_eq!(t.matches(&key).count(), 1, "the key is printed once: {t}");
    assert!(
        t.contains("curl -H \"Authorization: Bearer $PARLEY_KEY\""),
        "{t}"
    );
    let yaml = std::fs::read_to_string(&config).unwrap();
    assert!(!yaml.contains(&key), "only the hash is stored");
    assert!(yaml.contains(&hex::encode(Sha256::digest(key.as_bytes()))));

    // A second init overwrites nothing and says which files are in the way.
    let again = parley_in(home.path(), &["init", "bot"]);
    let t = all_text(&again);
    assert_eq!(again.status.code(), Some(1), "{t}");
    assert!(t.contains("bot/parley.yaml"), "{t}");
    assert!(t.contains("nothing was written"), "{t}");
    // It suggests a folder that is free, never the one it just refused.
    assert!(t.contains("`parley init bot-2`"), "{t}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), yaml, "unchanged");

    // check and test pass, from another folder.
    let elsewhere = tempfile::tempdir().unwrap();
    let config_arg = config.to_str().unwrap();
    let flows = PROJECT_FILES
        .iter()
        .filter(|(n, _)| {
            n.starts_with("flows/")
                && !n.starts_with("flows/tests/")
                && !n.starts_with("flows/evals/")
                && !n.ends_with(".po")
        })
        .count();
    let tests = PROJECT_FILES
        .iter()
        .filter(|(n, _)| n.starts_with("flows/tests/"))
        .count();
    let check = parley_in(elsewhere.path(), &["check", "--config", config_arg]);
    let t = all_text(&check);
    assert!(check.status.success(), "{t}");
    assert!(t.contains(&format!("{flows} flow(s) ready")), "{t}");
    assert!(!t.contains("warning: no "), "nothing lacks: {t}");
    let test = parley_in(elsewhere.path(), &["test", "--config", config_arg]);
    let t = all_text(&test);
    assert!(test.status.success(), "{t}");
    assert!(
        t.contains(&format!("{tests} tests: {tests} passed, 0 failed")),
        "{t}"
    );

    // serve answers the API with the printed key, and only with it.
    let daemon = Daemon::start(elsewhere.path(), &["--config", config_arg], false).await;
    daemon
        .log_with(&format!("sandbox page: {}/sandbox", daemon.addr))
        .await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/user/whatsapp/senders", daemon.addr);
    let r = http.get(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body.to_string().contains("+15550000000"), "{body}");
    let r = http.get(&url).bearer_auth("pk_wrong").send().await.unwrap();
    assert_eq!(r.status(), 401);
    drop(daemon);
    assert!(
        project.join("parley.db").exists(),
        "the database is next to parley.yaml"
    );
    assert!(!elsewhere.path().join("parley.db").exists());
}

#[test]
fn init_sets_up_editors_with_the_schemas_and_keeps_existing_editor_settings() {
    let home = tempfile::tempdir().unwrap();
    let out = parley_in(home.path(), &["init", "bot"]);
    let t = all_text(&out);
    assert!(out.status.success(), "{t}");
    let project = home.path().join("bot");
    for (name, schema) in parley::studio::schema::schema_files() {
        let text = std::fs::read_to_string(project.join("schemas").join(name))
            .unwrap_or_else(|e| panic!("schemas/{name}: {e}; {t}"));
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            schema,
            "{name}"
        );
    }
    let settings: Value = serde_json::from_str(
        &std::fs::read_to_string(project.join(".vscode/settings.json")).unwrap(),
    )
    .unwrap();
    let schemas = &settings["yaml.schemas"];
    assert_eq!(
        schemas["./schemas/flow.schema.json"],
        serde_json::json!(["flows/**/*.yaml", "flows/**/*.yml", "!flows/**/tests/**"])
    );
    assert_eq!(
        schemas["./schemas/flow-test.schema.json"],
        serde_json::json!(["flows/tests/*.test.yaml"])
    );
    assert_eq!(
        schemas["./schemas/config.schema.json"],
        serde_json::json!(["parley.yaml"])
    );
    let extensions: Value = serde_json::from_str(
        &std::fs::read_to_string(project.join(".vscode/extensions.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        extensions["recommendations"],
        serde_json::json!(["redhat.vscode-yaml"])
    );

    // A folder with its own VS Code settings: they stay as they were, and init says what
    // to add; the project is written.
    let other = home.path().join("other");
    std::fs::create_dir_all(other.join(".vscode")).unwrap();
    std::fs::write(other.join(".vscode/settings.json"), "{ \"mine\": true }\n").unwrap();
    let out = parley_in(home.path(), &["init", "other"]);
    let t = all_text(&out);
    assert!(out.status.success(), "{t}");
    assert_eq!(
        std::fs::read_to_string(other.join(".vscode/settings.json")).unwrap(),
        "{ \"mine\": true }\n"
    );
    assert!(t.contains("settings.json exists and was left alone"), "{t}");
    assert!(other.join(".vscode/extensions.json").is_file());
    assert!(other.join("schemas/flow.schema.json").is_file());
    assert!(other.join("parley.yaml").is_file());
}
