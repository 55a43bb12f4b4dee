//! The storage-less ceiling: a bare axum server that does what a webhook needs and nothing
//! more — verify `X-Hub-Signature-256` over the raw body, answer 200, and for each text
//! message post its text back to the Graph API double with reqwest. It stores nothing, has
//! no flows, no outbox and no retries. Run by the same generator in the same run as
//! Parley (`--baseline`), it is the yardstick for Parley's figures: absolute numbers on a
//! shared machine move from hour to hour, ratios in one run much less.
//!
//! It runs as a child process of `parley-bench` (`parley-bench __baseline PORT API_BASE
//! SECRET`), so it can be pinned and measured like Parley.

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The hidden first argument that makes `parley-bench` the baseline server.
pub const MODE: &str = "__baseline";

struct Baseline {
    http: reqwest::Client,
    api_base: String,
    secret: Vec<u8>,
}

#[derive(Deserialize)]
struct Hook {
    #[serde(default)]
    entry: Vec<Entry>,
}
#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}
#[derive(Deserialize)]
struct Change {
    value: Value,
}
#[derive(Deserialize)]
struct Value {
    metadata: Metadata,
    #[serde(default)]
    messages: Vec<Message>,
}
#[derive(Deserialize)]
struct Metadata {
    phone_number_id: String,
}
#[derive(Deserialize)]
struct Message {
    from: String,
    #[serde(default)]
    text: Option<Text>,
}
#[derive(Deserialize)]
struct Text {
    body: String,
}

/// `parley-bench __baseline PORT API_BASE SECRET`: serves until killed.
pub fn main(args: &[String]) -> anyhow::Result<()> {
    let [port, api_base, secret] = args else {
        anyhow::bail!("usage: parley-bench {MODE} PORT API_BASE SECRET");
    };
    let port: u16 = port.parse().context("PORT")?;
    let state = Arc::new(Baseline {
        http: reqwest::Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1024)
            .timeout(Duration::from_secs(10))
            .build()?,
        api_base: api_base.clone(),
        secret: secret.as_bytes().to_vec(),
    });
    // The same runtime shape as Parley's: one worker per CPU it may use.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(listener, router(state)).await?;
        Ok(())
    })
}

fn router(state: Arc<Baseline>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/webhooks/meta", post(webhook))
        .with_state(state)
}

async fn webhook(State(st): State<Arc<Baseline>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let Some(signature) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|hex_sig| hex::decode(hex_sig).ok())
    else {
        return StatusCode::UNAUTHORIZED;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(&st.secret).expect("any key length");
    mac.update(&body);
    if mac.verify_slice(&signature).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(hook) = serde_json::from_slice::<Hook>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    for change in hook.entry.into_iter().flat_map(|e| e.changes) {
        let pnid = change.value.metadata.phone_number_id;
        for message in change.value.messages {
            let Some(text) = message.text else { continue };
            let url = format!("{}/{pnid}/messages", st.api_base);
            let body = serde_json::json!({
                "messaging_product": "whatsapp", "to": message.from,
                "type": "text", "text": { "body": text.body }
            });
            let http = st.http.clone();
            // Answer first, send after: like Parley, the webhook does not wait for the send.
            tokio::spawn(async move {
                if let Ok(response) = http.post(url).json(&body).send().await {
                    let _ = response.bytes().await;
                }
            });
        }
    }
    StatusCode::OK
}

/// The baseline server as a child process of the benchmark.
pub struct Child {
    child: tokio::process::Child,
    pub pid: u32,
    pub base: String,
}

impl Child {
    pub async fn start(api_base: &str, secret: &str, pin: Option<usize>) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let exe = std::env::current_exe()?;
        let mut command = tokio::process::Command::new(exe);
        command
            .arg(MODE)
            .arg(port.to_string())
            .arg(api_base)
            .arg(secret)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        if let Some(cpu) = pin {
            crate::pin::pin_child(&mut command, cpu);
        }
        let mut child = command.spawn().context("starting the baseline server")?;
        let pid = child.id().context("the baseline has no pid")?;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("the baseline server exited during start ({status})");
            }
            if http
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(10),
                "the baseline server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self { child, pid, base })
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::double::Double;
    use crate::load::{prepare, Account};
    use crate::record::Tracker;

    /// The baseline answers a signed webhook and echoes its text to the double; a bad
    /// signature gets 401 and no reply.
    #[tokio::test]
    async fn verifies_the_signature_and_echoes_to_the_double() {
        let tracker = Arc::new(Tracker::new(4, 4));
        let double = Double::start(tracker.clone()).await.unwrap();
        let state = Arc::new(Baseline {
            http: reqwest::Client::new(),
            api_base: double.api_base(),
            secret: b"s3cret".to_vec(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/meta", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router(state)).await });
        let account = Account {
            phone_number_id: "106540352242922",
            display_phone_number: "15550783880",
            app_secret: "s3cret",
        };
        let hooks = prepare(4, 4, 2, &account);
        let http = reqwest::Client::new();
        let forged = http
            .post(&url)
            .header("x-hub-signature-256", "sha256=00")
            .body(hooks[1].body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 401);
        let signed = http
            .post(&url)
            .header("x-hub-signature-256", hooks[3].signature.clone())
            .body(hooks[3].body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(signed.status(), 200);
        for _ in 0..200 {
            if tracker.replied() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(tracker.entry(3).replies, 1, "the signed webhook's echo");
        assert_eq!(tracker.entry(1).replies, 0, "nothing for the forged one");
        assert_eq!(
            tracker.misrouted.load(std::sync::atomic::Ordering::Relaxed),
            0
        );
    }
}
