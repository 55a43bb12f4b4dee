//! A SQLite database belongs to one process: a second `parley serve` on the same file is
//! refused, naming the first; and a restart after SIGKILL takes back the dead process's
//! leases at once instead of waiting for them to run out; on PostgreSQL a restart on the same
//! host takes over the leases of its provably dead predecessor (issue 13, item 6).

use crate::crash::{free_port, post_meta_to, reply_within, sigkill, start, wait_healthy};
use crate::helpers::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("parley.db").display())
}

fn write_config(dir: &std::path::Path, db: &str, meta_uri: &str, port: u16) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("flows")).unwrap();
    std::fs::write(dir.join("flows/echo.yaml"), ECHO_FLOW).unwrap();
    // The shipped leases (30 s): the point is not to wait for them.
    let yaml = config_yaml(dir, db, meta_uri, "http://127.0.0.1:9", "")
        .replace("listen: 127.0.0.1:0", &format!("listen: 127.0.0.1:{port}"))
        .replace("send_timeout: 2s", "send_timeout: 60s");
    let config = dir.join(format!("parley-{port}.yaml"));
    std::fs::write(&config, yaml).unwrap();
    config
}

#[tokio::test]
async fn a_second_process_on_the_same_sqlite_file_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let meta = MockServer::start().await;
    mount_meta_ok(&meta).await;
    let port = free_port();
    let db = sqlite_url(dir.path());
    let config = write_config(dir.path(), &db, &meta.uri(), port);
    let http = reqwest::Client::new();
    let mut first = start(&config, dir.path());
    wait_healthy(&http, &format!("http://127.0.0.1:{port}")).await;

    let other = write_config(dir.path(), &db, &meta.uri(), free_port());
    let second = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["serve", "--config"])
        .arg(&other)
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("parley runs");
    let stderr = String::from_utf8_lossy(&second.stderr);
    sigkill(&mut first);
    assert!(
        !second.status.success(),
        "the second process must not serve"
    );
    assert!(
        stderr.contains("already used by another Parley process")
            && stderr.contains(&format!("pid {}", first.id())),
        "the refusal names the first process: {stderr}"
    );
}

#[tokio::test]
async fn a_restart_after_sigkill_answers_at_once_instead_of_waiting_out_the_leases() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    restart_answers_at_once(dir.path(), &db).await;
}

#[tokio::test]
async fn postgres_a_restart_on_the_same_host_takes_over_the_dead_process_leases() {
    let Some(db) = crate::postgres::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    restart_answers_at_once(dir.path(), &db).await;
}

async fn restart_answers_at_once(dir: &std::path::Path, db: &str) {
    let meta = MockServer::start().await;
    // First life: the provider hangs, so the send is leased (30 s) when the process dies.
    Mock::given(method("POST"))
        .and(path_regex("/messages$"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(120)))
        .mount(&meta)
        .await;
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let config = write_config(dir, db, &meta.uri(), port);
    let http = reqwest::Client::new();
    let mut first = start(&config, dir);
    wait_healthy(&http, &addr).await;
    let body = meta_text("16315551181", "wamid.own.1", "hi before kill", now_unix());
    assert_eq!(post_meta_to(&http, &addr, body).await, 200);
    // Wait until the send is in flight (its lease taken), then kill.
    let t0 = Instant::now();
    while sends(&meta).await.is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the send never left"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sigkill(&mut first);

    meta.reset().await;
    mount_meta_ok(&meta).await;
    let mut second = start(&config, dir);
    wait_healthy(&http, &addr).await;
    // The lease is 30 s; a restart that waits it out fails here.
    if reply_within(&meta, "echo: hi before kill", Duration::from_secs(10))
        .await
        .is_none()
    {
        sigkill(&mut second);
        panic!("the restart waited for the dead process's lease");
    }
    sigkill(&mut second);
}
