//! The road from the embedded default to one's own config (issue 15), through the real
//! binary: relative paths follow the config file, a missing flows folder is an error, what
//! a deployment lacks (flows, senders, API keys) is a warning in `check`, the start's log
//! and `/readyz`, `--listen`/`PARLEY_LISTEN`, and the 401 that says no key exists.

use crate::crash::{free_port, wait_healthy};
use crate::helpers::*;
use serde_json::Value;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

/// The binary run to completion in `cwd`, with none of the caller's Parley variables.
pub fn parley_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(args)
        .current_dir(cwd)
        .env_remove("PARLEY_CONFIG")
        .env_remove("PARLEY_LISTEN")
        .env_remove("RUST_LOG")
        .output()
        .expect("parley runs")
}

pub fn all_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `parley serve` running in the background, its log collected; killed when dropped.
pub struct Daemon {
    child: Child,
    log: Arc<Mutex<String>>,
    pub addr: String,
}

impl Daemon {
    /// Starts `parley serve args…` in `cwd` on a free port: `--listen` when `by_env` is
    /// false, `PARLEY_LISTEN` when true.
    pub async fn start(cwd: &Path, args: &[&str], by_env: bool) -> Daemon {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_parley"));
        cmd.arg("serve")
            .args(args)
            .current_dir(cwd)
            .env_remove("PARLEY_CONFIG")
            .env_remove("PARLEY_LISTEN")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if by_env {
            cmd.env("PARLEY_LISTEN", &listen);
        } else {
            cmd.args(["--listen", &listen]);
        }
        let mut child = cmd.spawn().expect("parley serve starts");
        let log = Arc::new(Mutex::new(String::new()));
        for out in [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|e| Box::new(e) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let daemon = Daemon {
            child,
            log,
            addr: format!("http://{listen}"),
        };
        wait_healthy(&reqwest::Client::new(), &daemon.addr).await;
        daemon
    }

    /// Waits until the log holds `text` (the log is written by other threads).
    pub async fn log_with(&self, text: &str) -> String {
        let log = self.log.clone();
        wait_until(
            &format!("`{text}` in the log"),
            std::time::Duration::from_secs(10),
            || log.lock().unwrap().contains(text),
        )
        .await;
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A project folder: `parley.yaml` holding `config`, and `flows/` with `flows` (none: an
/// empty folder; `None`: no folder).
fn project(config: &str, flows: Option<&[(&str, &str)]>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("parley.yaml"), config).unwrap();
    if let Some(flows) = flows {
        std::fs::create_dir_all(dir.path().join("flows")).unwrap();
        for (name, text) in flows {
            std::fs::write(dir.path().join("flows").join(name), text).unwrap();
        }
    }
    dir
}

const ONE_SANDBOX: &str = "database: { url: \"sqlite://parley.db\" }\nflows: { dir: flows }\nsenders:\n  - { id: 1, name: Sandbox, channel: sandbox, phone_number: \"+15550000000\" }\n";

#[test]
fn check_finds_the_flows_next_to_the_config_from_any_folder() {
    let project = project(ONE_SANDBOX, Some(&[("echo.yaml", ECHO_FLOW)]));
    let elsewhere = tempfile::tempdir().unwrap();
    let config = project.path().join("parley.yaml");
    let out = parley_in(
        elsewhere.path(),
        &["check", "--config", config.to_str().unwrap()],
    );
    let t = all_text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("1 flow(s) ready"), "{t}");
    assert!(
        t.contains(&project.path().join("flows").display().to_string()),
        "the flows folder under the config's folder: {t}"
    );
    // From the config's own folder, with a relative --config, the same.
    let out = parley_in(project.path(), &["check", "--config", "parley.yaml"]);
    assert!(out.status.success(), "{}", all_text(&out));
}

#[test]
fn a_missing_flows_folder_stops_check_and_serve_with_its_full_path() {
    let project = project(ONE_SANDBOX, None);
    let elsewhere = tempfile::tempdir().unwrap();
    let config = project.path().join("parley.yaml");
    let config = config.to_str().unwrap();
    let missing = project.path().join("flows").display().to_string();
    for args in [
        vec!["check", "--config", config],
        vec!["serve", "--config", config, "--listen", "127.0.0.1:0"],
    ] {
        let command = args[0];
        let out = parley_in(elsewhere.path(), &args);
        let t = all_text(&out);
        assert_eq!(out.status.code(), Some(1), "{command}: {t}");
        assert!(
            t.contains(&format!("the flows folder {missing} does not exist")),
            "{command}: {t}"
        );
        assert!(
            t.contains("hint: create it, or set flows.dir"),
            "{command}: {t}"
        );
    }
    assert!(
        !project.path().join("parley.db").exists(),
        "serve stopped before creating the database"
    );
}

/// A media folder, or the SQLite file's folder, that cannot be made (here: under a file)
/// stops `check` and `serve` naming the setting, before any customer sends a photo.
#[test]
fn folders_parley_cannot_write_stop_check_and_serve_naming_their_setting() {
    let config = "database: { url: \"sqlite://taken/parley.db\" }\nflows: { dir: flows }\nmedia: { dir: taken/media }\nsenders:\n  - { id: 1, name: Sandbox, channel: sandbox, phone_number: \"+15550000000\" }\n";
    let project = project(config, Some(&[("echo.yaml", ECHO_FLOW)]));
    std::fs::write(project.path().join("taken"), "a file, not a folder").unwrap();
    let config = project.path().join("parley.yaml");
    let config = config.to_str().unwrap();
    let out = parley_in(project.path(), &["check", "--config", config]);
    let t = all_text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("database.url: the SQLite file's folder ")
            && t.contains("taken is a file, not a folder"),
        "{t}"
    );
    assert!(
        t.contains("media.dir: the folder for customers' media "),
        "{t}"
    );
    let out = parley_in(
        project.path(),
        &["serve", "--config", config, "--listen", "127.0.0.1:0"],
    );
    let t = all_text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("database.url: the SQLite file's folder "), "{t}");
}

#[test]
fn check_warns_when_there_are_no_flows_and_no_senders() {
    let project = project(
        "database: { url: \"sqlite://parley.db\" }\nflows: { dir: flows }\nsenders: []\n",
        Some(&[]),
    );
    let out = parley_in(project.path(), &["check", "--config", "parley.yaml"]);
    let t = all_text(&out);
    assert!(out.status.success(), "warnings are not errors: {t}");
    for expected in [
        "parley.yaml: warning: no flows in ",
        "parley.yaml: warning: no senders configured: nothing can reach Parley: add a sender, see config.example.yaml",
        "parley.yaml: warning: no api_keys configured: the API answers 401 to every request; run `parley keygen`",
        "parley.yaml: config ok with 3 warning(s); flows in ",
        ": 0 error(s), 0 warning(s); 0 flow(s) ready",
    ] {
        assert!(t.contains(expected), "`{expected}` missing in:\n{t}");
    }
}

#[test]
fn check_reports_every_config_problem_at_once() {
    let project = project(
        "senders:\n  - id: 1\n    name: Line\n    channel: metta\n    phone_number: \"+15550783881\"\n    meta: { phone_number_id: \"1\", access_token: \"${PARLEY_TEST_UNSET_TOKEN}\", app_secret: s, verify_token: v }\n",
        Some(&[]),
    );
    let out = parley_in(project.path(), &["check", "--config", "parley.yaml"]);
    let t = all_text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("parley.yaml: senders[0].meta.access_token: environment variable PARLEY_TEST_UNSET_TOKEN is not set"),
        "{t}"
    );
    assert!(
        t.contains("parley.yaml: senders[0].channel: unknown variant `metta`"),
        "{t}"
    );
}

#[tokio::test]
async fn serve_without_a_config_listens_where_told_and_names_the_sandbox_page() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(cwd.path().join("flows")).unwrap();
    std::fs::write(cwd.path().join("flows/echo.yaml"), ECHO_FLOW).unwrap();
    let daemon = Daemon::start(cwd.path(), &[], false).await;
    let log = daemon
        .log_with(&format!("sandbox page: {}/sandbox", daemon.addr))
        .await;
    assert!(log.contains("no --config given"), "{log}");
    let page = reqwest::get(format!("{}/sandbox", daemon.addr))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        cwd.path().join("parley.db").exists(),
        "the embedded default's database is in the working directory"
    );
}

#[test]
fn a_public_listen_address_is_checked_like_the_files() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(cwd.path().join("flows")).unwrap();
    let out = parley_in(cwd.path(), &["serve", "--listen", "0.0.0.0:0"]);
    let t = all_text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("--listen 0.0.0.0:0"), "{t}");
    assert!(t.contains("sandbox: { expose: true }"), "{t}");
    let out = parley_in(cwd.path(), &["serve", "--listen", "port 80"]);
    assert!(all_text(&out).contains("is not an address like 127.0.0.1:8080"));
    assert!(!cwd.path().join("parley.db").exists(), "nothing was opened");
}

#[test]
fn check_judges_the_listen_address_serve_would_get() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(cwd.path().join("flows")).unwrap();
    // By the flag and by the environment (the Dockerfile's PARLEY_LISTEN), as serve does.
    let by_flag = parley_in(cwd.path(), &["check", "--listen", "0.0.0.0:8080"]);
    let by_env = Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("check")
        .current_dir(cwd.path())
        .env_remove("PARLEY_CONFIG")
        .env("PARLEY_LISTEN", "0.0.0.0:8080")
        .output()
        .unwrap();
    for out in [by_flag, by_env] {
        let t = all_text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        assert!(
            t.contains("--listen 0.0.0.0:8080 (or PARLEY_LISTEN)"),
            "{t}"
        );
        assert!(t.contains("sandbox: { expose: true }"), "{t}");
    }
    let out = parley_in(cwd.path(), &["check", "--listen", "127.0.0.1:9"]);
    assert!(out.status.success(), "{}", all_text(&out));
}

#[test]
fn a_port_in_use_names_the_setting_and_what_to_do() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(cwd.path().join("flows")).unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = parley_in(cwd.path(), &["serve", "--listen", &addr]);
    let t = all_text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!(
            "cannot listen on {addr} (--listen or PARLEY_LISTEN)"
        )),
        "{t}"
    );
    assert!(
        t.contains("stop the other process or choose another port"),
        "{t}"
    );
}

#[tokio::test]
async fn serve_with_nothing_to_do_warns_at_start_and_on_readyz_but_is_ready() {
    let project = project(
        "database: { url: \"sqlite://parley.db\" }\nflows: { dir: flows }\n",
        Some(&[]),
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let config = project.path().join("parley.yaml");
    let daemon = Daemon::start(
        elsewhere.path(),
        &["--config", config.to_str().unwrap()],
        true,
    )
    .await;
    let log = daemon.log_with("no api_keys configured").await;
    for expected in [
        "no flows in ",
        "nothing can reach Parley: add a sender, see config.example.yaml",
        "no api_keys configured: the API answers 401 to every request; run `parley keygen`",
    ] {
        let line = log
            .lines()
            .find(|l| l.contains(expected))
            .unwrap_or_else(|| panic!("`{expected}` missing in the log:\n{log}"));
        assert!(line.contains("WARN"), "{line}");
    }
    let r = reqwest::get(format!("{}/readyz", daemon.addr))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["database"]["ok"], true, "{body}");
    assert_eq!(body["flows"]["loaded"], 0, "{body}");
    assert!(body["stopped_senders"].is_array(), "{body}");
    let warnings = body["warnings"].as_array().expect("a warnings list");
    assert_eq!(warnings.len(), 3, "{body}");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains(&project.path().join("flows").display().to_string()),
        "{body}"
    );
    assert!(
        project.path().join("parley.db").exists() && !elsewhere.path().join("parley.db").exists(),
        "the database is next to the config, not in the working directory"
    );
}

#[tokio::test]
async fn readyz_has_no_warnings_when_flows_senders_and_keys_exist() {
    let app = spawn_with(Options {
        extra_yaml: crate::api::api_yaml(100, 100),
        ..Options::default()
    })
    .await;
    let body: Value = app
        .http
        .get(format!("{}/readyz", app.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["warnings"], serde_json::json!([]), "{body}");
    app.shutdown().await;
}

#[tokio::test]
async fn without_api_keys_the_401_says_none_exist_and_how_to_add_one() {
    let app = spawn_app().await;
    let url = format!("{}/api/user/whatsapp/senders", app.addr);
    let missing = app.http.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let body: Value = missing.json().await.unwrap();
    insta::assert_json_snapshot!("auth_no_keys_configured", body);
    let wrong = app
        .http
        .get(&url)
        .bearer_auth("pk_guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.json::<Value>().await.unwrap(), body);
    // `/api/v1` keeps its own shape, with the same words.
    let v1 = app
        .http
        .post(format!("{}/api/v1/messages/send-message", app.addr))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(v1.status(), 401);
    let v1: Value = v1.json().await.unwrap();
    assert_eq!(v1["detail"], body["error"], "{v1}");
    app.shutdown().await;
}

#[tokio::test]
async fn serve_keeps_running_on_a_hang_up_or_closed_output_and_stops_on_sigterm() {
    // `parley serve | head -1`, or a log shipper that died: every later log line meets a
    // closed pipe. Parley drops those lines; it neither panics nor ignores SIGTERM.
    let cwd = project(ONE_SANDBOX, Some(&[("echo.yaml", ECHO_FLOW)]));
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["serve", "--config", "parley.yaml", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .current_dir(cwd.path())
        .env_remove("PARLEY_CONFIG")
        .env_remove("PARLEY_LISTEN")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map(crate::crash::Parley::from)
        .expect("parley serve starts");
    drop(child.stdout.take());
    drop(child.stderr.take());
    let addr = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_healthy(&http, &addr).await;
    // Requests that log: refusals and a sandbox conversation.
    for _ in 0..3 {
        let refused = http
            .get(format!("{addr}/api/user/whatsapp/senders"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        let said = http
            .post(format!("{addr}/sandbox/api/messages"))
            .json(&serde_json::json!({ "from": "+34600000001", "text": "hello" }))
            .send()
            .await
            .unwrap();
        assert_eq!(said.status(), 200);
    }
    assert!(child.try_wait().unwrap().is_none(), "parley serve exited");
    // A hang-up (a closed terminal, `kill -HUP`) leaves it running.
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGHUP);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "parley serve exited on SIGHUP"
    );
    wait_healthy(&http, &addr).await;
    let status = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        crate::crash::sigterm_and_wait(child),
    )
    .await
    .expect("parley serve stops on SIGTERM");
    assert!(status.success(), "{status:?}");
}
