//! Kill the real binary with SIGKILL right after it acknowledged a webhook; the restarted
//! process delivers the reply (DESIGN.md rule 1).

use crate::helpers::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `parley serve` child process, killed when dropped: a test that fails half-way (a
/// panic before its own `sigkill`) leaves no daemon behind to hold its ports and a core
/// while the other tests run.
pub struct Parley(Child);

impl From<Child> for Parley {
    fn from(child: Child) -> Self {
        Self(child)
    }
}

impl std::ops::Deref for Parley {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Parley {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Parley {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

pub fn start(config: &std::path::Path, dir: &std::path::Path) -> Parley {
    Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["serve", "--config"])
        .arg(config)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("parley binary starts")
        .into()
}

pub async fn wait_healthy(http: &reqwest::Client, addr: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(r) = http.get(format!("{addr}/healthz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("parley did not become healthy at {addr}");
}

/// Posts a signed Meta webhook to the child process at `addr`; its status.
pub async fn post_meta_to(http: &reqwest::Client, addr: &str, body: Vec<u8>) -> u16 {
    http.post(format!("{addr}/webhooks/meta"))
        .header("x-hub-signature-256", sign_meta(&body))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The send whose text is `text`, once the provider double has it, or `None` after `within`.
pub async fn reply_within(
    meta: &MockServer,
    text: &str,
    within: Duration,
) -> Option<serde_json::Value> {
    let t0 = Instant::now();
    loop {
        if let Some(s) = sends(meta).await.into_iter().find(|s| body_text(s) == text) {
            return Some(s);
        }
        if t0.elapsed() > within {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asks the process to stop (SIGTERM) and waits for it to exit.
pub async fn sigterm_and_wait(mut child: Parley) -> std::process::ExitStatus {
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap()
}

pub fn sigkill(child: &mut Child) {
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
}

#[tokio::test]
async fn reply_is_delivered_after_sigkill_right_after_the_ack() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("parley.db").display());
    // The kill may land after the conversation was claimed and before its step was
    // committed: the restarted process takes it over when this lease runs out.
    reply_after_sigkill_right_after_the_ack(dir.path(), &db, "1s").await;
}

/// On PostgreSQL the webhook's own statement leases its conversation to the inbox of the
/// process that acknowledged it. Killed right after the acknowledgement, that process
/// leaves leases of a minute; the restarted process on the same host takes them over at
/// start (their owner is provably gone) and answers long before they would run out.
#[tokio::test]
async fn on_postgres_a_reply_after_sigkill_right_after_the_ack_waits_for_no_lease() {
    let Some(db) = crate::postgres::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    reply_after_sigkill_right_after_the_ack(dir.path(), &db, "60s").await;
}

/// Acknowledged, then SIGKILL while the provider hangs; the restarted process (the
/// provider healthy again) delivers the reply within 20 s. `lease` is the inbox's and the
/// outbox's lease.
async fn reply_after_sigkill_right_after_the_ack(dir: &std::path::Path, db: &str, lease: &str) {
    std::fs::create_dir_all(dir.join("flows")).unwrap();
    std::fs::write(dir.join("flows/echo.yaml"), ECHO_FLOW).unwrap();
    let meta = MockServer::start().await;
    // First life: the provider hangs, so the reply cannot leave before the kill.
    Mock::given(method("POST"))
        .and(path_regex("/messages$"))
        .respond_with(ResponseTemplate::new(503).set_delay(Duration::from_secs(30)))
        .mount(&meta)
        .await;
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let yaml = config_yaml(dir, db, &meta.uri(), "http://127.0.0.1:9", "")
        .replace("listen: 127.0.0.1:0", &format!("listen: 127.0.0.1:{port}"))
        .replace(
            "send_timeout: 2s",
            &format!("send_timeout: 20s, lease: {lease}"),
        )
        .replace(
            "inbox: { poll_interval: 50ms }",
            &format!("inbox: {{ poll_interval: 50ms, lease: {lease} }}"),
        );
    let config = dir.join("parley.yaml");
    std::fs::write(&config, yaml).unwrap();

    let http = reqwest::Client::new();
    let mut first = start(&config, dir);
    wait_healthy(&http, &addr).await;
    let body = meta_text("16315551181", "wamid.crash.1", "hi after crash", now_unix());
    assert_eq!(post_meta_to(&http, &addr, body).await, 200);
    sigkill(&mut first);

    // Second life: the provider is healthy again.
    meta.reset().await;
    mount_meta_ok(&meta).await;
    let mut second = start(&config, dir);
    wait_healthy(&http, &addr).await;
    let delivered = reply_within(&meta, "echo: hi after crash", Duration::from_secs(20)).await;
    let Some(delivered) = delivered else {
        sigkill(&mut second);
        panic!("the acknowledged message was never answered after the restart");
    };
    assert_eq!(delivered["to"], "16315551181");
    sigkill(&mut second);
}

#[tokio::test]
async fn sigterm_finishes_the_send_in_flight_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    std::fs::write(dir.path().join("flows/echo.yaml"), ECHO_FLOW).unwrap();
    let meta = MockServer::start().await;
    // The provider takes 1.5 s to answer: SIGTERM arrives while the send is in flight.
    Mock::given(method("POST"))
        .and(path_regex("/messages$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"messages": [{"id": "wamid.term.1"}]}))
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&meta)
        .await;
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let db = format!("sqlite://{}", dir.path().join("parley.db").display());
    let yaml = config_yaml(dir.path(), &db, &meta.uri(), "http://127.0.0.1:9", "")
        .replace("listen: 127.0.0.1:0", &format!("listen: 127.0.0.1:{port}"));
    let config = dir.path().join("parley.yaml");
    std::fs::write(&config, yaml).unwrap();
    let http = reqwest::Client::new();
    let child = start(&config, dir.path());
    wait_healthy(&http, &addr).await;
    let body = meta_text("16315551181", "wamid.term.in", "hi before term", now_unix());
    assert_eq!(post_meta_to(&http, &addr, body).await, 200);
    // Wait until the send reached the provider, then ask Parley to stop.
    let t0 = Instant::now();
    while sends(&meta).await.is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the reply never reached the provider"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = sigterm_and_wait(child).await;
    assert!(status.success(), "parley exited with {status:?}");

    // The outcome of the in-flight send was recorded before exit.
    let store = parley::store::connect(&parley::config::DatabaseConfig {
        url: db,
        ..Default::default()
    })
    .await
    .unwrap();
    let conv = store
        .find_conversation(1, "+16315551181")
        .await
        .unwrap()
        .unwrap();
    let msg = store
        .conversation_outbound(conv.id, None, 1)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(msg.status, parley::domain::DeliveryStatus::Accepted);
    assert_eq!(msg.provider_message_id.as_deref(), Some("wamid.term.1"));
}
