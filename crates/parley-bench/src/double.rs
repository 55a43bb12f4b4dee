//! The Graph API double: an axum server on loopback in the benchmark process that answers
//! `POST /{version}/{phone_number_id}/messages` at once with a fresh wamid, and records when
//! each reply arrived, keyed by the webhook number echoed in the reply's text
//! (`kw<flow> <seq>`). It never fails or delays a send: provider behaviour is not what
//! is measured.
//!
//! With `--mix w2` it behaves like Meta after an accepted send: `status_delay` later it posts
//! three signed status webhooks for the message — `sent`, `delivered`, `read`, one after the
//! other — to the server under test, so webhooks = 4 × replies, as in real traffic.
//!
//! With agents (`--mix agent`, `--agent-waiting`) it also answers the "typing…" requests
//! an `agent` step makes while the model works (counted, not replies), and hands each
//! waiting agent's reply (`slow <k>`) to `agents.rs`, which writes again for that contact.
//!
//! With `--broadcast` it counts every template send per recipient (`broadcast.rs`).
//!
//! Every send is attributed to the sender whose `phone_number_id` is in its path
//! (`pace.rs`), so runs with `--senders 2` split replies and template sends by number.

use crate::agents::contact_digits;
use crate::record::Tracker;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;

pub struct Double {
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
    state: Arc<DoubleState>,
}

struct DoubleState {
    tracker: Arc<Tracker>,
    next_id: AtomicU64,
    statuses: OnceLock<StatusTarget>,
    counts: Arc<StatusCounts>,
    /// Where waiting agents' replies go (`--agent-waiting`).
    slow_replies: OnceLock<mpsc::UnboundedSender<u32>>,
    /// "typing…" requests (read receipts with a typing indicator) answered.
    typing: AtomicU64,
    /// Where template sends are counted (`--broadcast`).
    templates: OnceLock<Arc<crate::broadcast::Sends>>,
}

/// Where `--mix w2` posts statuses, set once the server under test is up.
struct StatusTarget {
    url: String,
    secret: String,
    phone_number_id: String,
    display_phone_number: String,
    delay: Duration,
    client: reqwest::Client,
}

/// Status webhooks posted by the double (`--mix w2`).
#[derive(Debug, Default)]
pub struct StatusCounts {
    pub posted: AtomicU64,
    /// Answered 200.
    pub ok: AtomicU64,
    /// Answered otherwise, or not at all.
    pub failed: AtomicU64,
}

#[derive(Deserialize)]
struct SendBody {
    #[serde(default)]
    to: String,
    #[serde(default)]
    text: Option<TextBody>,
    /// `read` on a read receipt or "typing…" request, which has no recipient.
    #[serde(default)]
    status: Option<String>,
    /// A template send (`--broadcast`); only its first body parameter is read.
    #[serde(default)]
    template: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct TextBody {
    body: String,
}

impl Double {
    pub async fn start(tracker: Arc<Tracker>) -> anyhow::Result<Self> {
        let state = Arc::new(DoubleState {
            tracker,
            next_id: AtomicU64::new(1),
            statuses: OnceLock::new(),
            counts: Arc::new(StatusCounts::default()),
            slow_replies: OnceLock::new(),
            typing: AtomicU64::new(0),
            templates: OnceLock::new(),
        });
        let app = Router::new()
            .route("/{version}/{phone_number_id}/messages", post(messages))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("parley-bench: the Graph API double stopped: {e}");
            }
        });
        Ok(Self {
            addr,
            server,
            state,
        })
    }

    /// `--mix w2`: after each accepted send, post `sent`, `delivered` and `read` to
    /// `webhook_url`, signed with `secret`, `delay` after the send.
    pub fn post_statuses(
        &self,
        webhook_url: String,
        secret: &str,
        phone_number_id: &str,
        display_phone_number: &str,
        delay: Duration,
    ) -> anyhow::Result<()> {
        let target = StatusTarget {
            url: webhook_url,
            secret: secret.to_string(),
            phone_number_id: phone_number_id.to_string(),
            display_phone_number: display_phone_number.to_string(),
            delay,
            client: crate::load::client()?,
        };
        if self.state.statuses.set(target).is_err() {
            anyhow::bail!("statuses are already being posted");
        }
        Ok(())
    }

    pub fn status_counts(&self) -> &StatusCounts {
        &self.state.counts
    }

    /// `--agent-waiting`: hand each waiting agent's reply (`slow <k>`) to `to`.
    pub fn send_slow_replies_to(&self, to: mpsc::UnboundedSender<u32>) -> anyhow::Result<()> {
        if self.state.slow_replies.set(to).is_err() {
            anyhow::bail!("waiting agents' replies already go somewhere");
        }
        Ok(())
    }

    /// `--broadcast`: count every template send in `sends`.
    pub fn count_templates_in(&self, sends: Arc<crate::broadcast::Sends>) -> anyhow::Result<()> {
        if self.state.templates.set(sends).is_err() {
            anyhow::bail!("template sends are already counted");
        }
        Ok(())
    }

    /// "typing…" requests answered so far.
    pub fn typing(&self) -> u64 {
        self.state.typing.load(Relaxed)
    }

    /// What to put in the Meta sender's `api_base`.
    pub fn api_base(&self) -> String {
        format!("http://{}/v26.0", self.addr)
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn messages(
    State(st): State<Arc<DoubleState>>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    body: Bytes,
) -> impl IntoResponse {
    let at = st.tracker.now_ns();
    let sender = crate::pace::sender_index(&phone_number_id);
    let parsed = serde_json::from_slice::<SendBody>(&body).ok();
    if let Some(SendBody {
        text: None,
        status: Some(_),
        ..
    }) = &parsed
    {
        st.typing.fetch_add(1, Relaxed);
        return (
            [(CONTENT_TYPE, "application/json")],
            r#"{"success":true}"#.to_string(),
        );
    }
    if let Some(SendBody {
        to,
        template: Some(template),
        ..
    }) = &parsed
    {
        let to = to.trim_start_matches('+');
        let value = template["components"][0]["parameters"][0]["text"].as_str();
        match st.templates.get() {
            Some(sends) => sends.record(to, value, at, sender),
            None => {
                st.tracker.unexpected.fetch_add(1, Relaxed);
            }
        }
        let id = st.next_id.fetch_add(1, Relaxed);
        return accepted(to, id);
    }
    let text = parsed.as_ref().and_then(|b| b.text.as_ref());
    if let Some(k) = text.and_then(|t| crate::agents::contact_of(&t.body)) {
        match st.slow_replies.get() {
            Some(to) => {
                let _ = to.send(k);
            }
            None => {
                st.tracker.unexpected.fetch_add(1, Relaxed);
            }
        }
        let id = st.next_id.fetch_add(1, Relaxed);
        return accepted(&contact_digits(k), id);
    }
    let to = parsed
        .as_ref()
        .map(|b| b.to.trim_start_matches('+').to_string())
        .unwrap_or_default();
    match text.and_then(|t| seq_of(&t.body)) {
        Some(seq) => {
            st.tracker.reply(seq, &to, at);
            if let Some(sender) = sender {
                st.tracker.reply_from(seq, sender);
            }
        }
        None => {
            st.tracker.unexpected.fetch_add(1, Relaxed);
        }
    }
    let id = st.next_id.fetch_add(1, Relaxed);
    if st.statuses.get().is_some() {
        let (state, wamid, to) = (st.clone(), format!("wamid.BENCH{id:012}"), to.clone());
        tokio::spawn(async move { post_statuses(&state, &wamid, &to).await });
    }
    accepted(&to, id)
}

/// Graph's answer to an accepted send.
fn accepted(to: &str, id: u64) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(CONTENT_TYPE, "application/json")],
        format!(
            r#"{{"messaging_product":"whatsapp","contacts":[{{"input":"{to}","wa_id":"{to}"}}],"messages":[{{"id":"wamid.BENCH{id:012}"}}]}}"#
        ),
    )
}

/// `sent`, `delivered`, `read` for one message, in that order, like Meta.
async fn post_statuses(st: &DoubleState, wamid: &str, to: &str) {
    let Some(target) = st.statuses.get() else {
        return;
    };
    tokio::time::sleep(target.delay).await;
    for status in ["sent", "delivered", "read"] {
        let body = serde_json::to_vec(&serde_json::json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {
                    "display_phone_number": target.display_phone_number,
                    "phone_number_id": target.phone_number_id
                },
                "statuses": [{
                    "id": wamid, "status": status, "recipient_id": to,
                    "timestamp": chrono::Utc::now().timestamp().to_string(),
                    "conversation": { "id": "bench", "origin": { "type": "service" } },
                    "pricing": { "billable": true, "pricing_model": "PMP", "category": "service", "type": "regular" }
                }]
            }}]}]
        }))
        .expect("a JSON value serialises");
        st.counts.posted.fetch_add(1, Relaxed);
        let answer = target
            .client
            .post(&target.url)
            .header(CONTENT_TYPE, "application/json")
            .header(
                "x-hub-signature-256",
                crate::load::sign(&target.secret, &body),
            )
            .body(body)
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => {
                let _ = r.bytes().await;
                st.counts.ok.fetch_add(1, Relaxed);
            }
            _ => {
                st.counts.failed.fetch_add(1, Relaxed);
            }
        }
    }
}

/// The webhook number in an echoed text `kw<flow> <seq>`.
fn seq_of(text: &str) -> Option<usize> {
    let (_, seq) = text.trim().split_once(' ')?;
    seq.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// `--mix w2`: after a send, the double posts `sent`, `delivered` and `read` for the
    /// message it answered, in that order, each signed with the app secret.
    #[tokio::test]
    async fn posts_three_signed_statuses_after_each_send() {
        type Seen = Arc<Mutex<Vec<(String, String, bool)>>>;
        let seen: Seen = Arc::default();
        let receiver = Router::new()
            .route(
                "/webhooks/meta",
                post(
                    |State(seen): State<Seen>, headers: axum::http::HeaderMap, body: Bytes| async move {
                        let signed = headers
                            .get("x-hub-signature-256")
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|v| v == crate::load::sign("s3cret", &body));
                        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        let st = &v["entry"][0]["changes"][0]["value"]["statuses"][0];
                        seen.lock().unwrap().push((
                            st["id"].as_str().unwrap_or_default().to_string(),
                            st["status"].as_str().unwrap_or_default().to_string(),
                            signed,
                        ));
                        "ok"
                    },
                ),
            )
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/meta", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, receiver).await });

        let tracker = Arc::new(Tracker::new(2, 2));
        let double = Double::start(tracker).await.unwrap();
        double
            .post_statuses(
                url,
                "s3cret",
                "106540352242922",
                "15550783880",
                Duration::ZERO,
            )
            .unwrap();
        let answer: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/106540352242922/messages", double.api_base()))
            .json(&serde_json::json!({"to": "15550000001", "text": {"body": "kw1 1"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let wamid = answer["messages"][0]["id"].as_str().unwrap().to_string();
        for _ in 0..200 {
            if double.status_counts().ok.load(Relaxed) == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let seen = seen.lock().unwrap().clone();
        let expected: Vec<(String, String, bool)> = ["sent", "delivered", "read"]
            .iter()
            .map(|s| (wamid.clone(), s.to_string(), true))
            .collect();
        assert_eq!(seen, expected);
        assert_eq!(double.status_counts().failed.load(Relaxed), 0);
    }

    /// With agents: "typing…" requests are answered and counted, not replies; a waiting
    /// agent's reply goes to the waiting conversations, not the measured ones.
    #[tokio::test]
    async fn typing_is_no_reply_and_waiting_replies_go_to_the_agents() {
        let tracker = Arc::new(Tracker::new(2, 2));
        let double = Double::start(tracker.clone()).await.unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        double.send_slow_replies_to(tx).unwrap();
        let post = |body: serde_json::Value| {
            let url = format!("{}/106540352242922/messages", double.api_base());
            async move {
                let r = reqwest::Client::new()
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                r.json::<serde_json::Value>().await.unwrap()
            }
        };
        let typing = post(serde_json::json!({
            "messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X",
            "typing_indicator": {"type": "text"}
        }))
        .await;
        assert_eq!(typing["success"], true);
        let slow = post(serde_json::json!({"to": "17770000005", "text": {"body": "slow 5"}})).await;
        assert!(slow["messages"][0]["id"].is_string());
        assert_eq!(rx.recv().await, Some(5));
        post(serde_json::json!({"to": "15550000001", "text": {"body": "agent 1"}})).await;
        assert_eq!(double.typing(), 1);
        assert_eq!(tracker.replied(), 1);
        assert_eq!(tracker.unexpected.load(Relaxed), 0);
        assert_eq!(tracker.misrouted.load(Relaxed), 0);
    }

    #[test]
    fn reads_the_webhook_number_from_the_echo() {
        assert_eq!(super::seq_of("kw7 12345"), Some(12345));
        assert_eq!(super::seq_of("kw7"), None);
        assert_eq!(super::seq_of("pong Tester"), None);
    }
}
