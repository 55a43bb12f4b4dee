//! The open-loop load generator. Every webhook body is built and signed before the clock
//! starts; webhook `i` is due at `t0 + i / rate` and is sent by its own task, so a slow
//! answer never delays the sends after it (the rate is the offered load, whatever Parley
//! does). Message `i` comes from contact `i mod N` and says `kw<i mod K> <i>`: the first
//! word is one flow's keyword, the number lets the double match the echoed reply. With
//! `--mix agent` it says `agent <i>`: a turn of flow `agent`'s `agent` step.

use crate::record::{contact_digits, Tracker};
use axum::body::Bytes;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use serde_json::json;
use sha2::Sha256;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::task::TaskTracker;

/// The business account the webhooks are addressed to.
pub struct Account<'a> {
    pub phone_number_id: &'a str,
    pub display_phone_number: &'a str,
    pub app_secret: &'a str,
}

pub struct Webhook {
    pub body: Bytes,
    pub signature: HeaderValue,
}

/// How the send phase went, in tracker nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct SendPhase {
    pub t0: u64,
    /// When the last webhook was handed to its task.
    pub last_scheduled: u64,
    /// When the last answer (or transport error) came back.
    pub answers_done: u64,
    pub max_in_flight: u64,
    pub rate: u32,
}

impl SendPhase {
    /// When webhook `seq` was due.
    pub fn due(&self, seq: usize) -> u64 {
        self.t0 + (seq as u128 * 1_000_000_000 / self.rate as u128) as u64
    }
}

pub fn prepare(total: usize, contacts: u32, flows: u32, account: &Account) -> Vec<Webhook> {
    prepare_alternating(total, contacts, flows, std::slice::from_ref(account))
}

/// `--senders`: as `prepare`, webhook `i` addressed to business number `i mod S` of
/// `accounts` (with an even number of contacts, each contact writes to one number only).
pub fn prepare_alternating(
    total: usize,
    contacts: u32,
    flows: u32,
    accounts: &[Account],
) -> Vec<Webhook> {
    build_for(total, accounts, |i| {
        (
            contact_digits((i % contacts as usize) as u32),
            format!("kw{} {i}", i % flows as usize),
        )
    })
}

/// `--mix agent`: message `i` says `agent <i>`, which starts (or is the next turn of) the
/// `agent` flow; the model double echoes it, so the reply carries the number as in W1.
pub fn prepare_agent(total: usize, contacts: u32, account: &Account) -> Vec<Webhook> {
    build(total, account, |i| {
        (
            contact_digits((i % contacts as usize) as u32),
            format!("{AGENT} {i}"),
        )
    })
}

/// The first word of `--mix agent` messages: the `agent` flow's keyword.
pub const AGENT: &str = "agent";

/// `--script-load`: messages that start the `burn` flow, each from a contact of its own
/// (numbers apart from the measured contacts'), so each runs a script of its own.
pub fn prepare_scripts(total: usize, account: &Account) -> Vec<Webhook> {
    build(total, account, |i| {
        (format!("1666{i:07}"), format!("burn {i}"))
    })
}

fn build(
    total: usize,
    account: &Account,
    message: impl Fn(usize) -> (String, String),
) -> Vec<Webhook> {
    build_for(total, std::slice::from_ref(account), message)
}

/// Webhook `i` says `message(i)` to business number `i mod accounts.len()`.
fn build_for(
    total: usize,
    accounts: &[Account],
    message: impl Fn(usize) -> (String, String),
) -> Vec<Webhook> {
    let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let timestamp = chrono::Utc::now().timestamp().to_string();
    (0..total)
        .map(|i| {
            let (from, text) = message(i);
            let account = &accounts[i % accounts.len()];
            let wamid = format!("wamid.BENCH{run}{i:09}");
            let body = serde_json::to_vec(&json!({
                "object": "whatsapp_business_account",
                "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {
                        "display_phone_number": account.display_phone_number,
                        "phone_number_id": account.phone_number_id
                    },
                    "contacts": [{ "profile": { "name": format!("Bench {from}") }, "wa_id": from }],
                    "messages": [{
                        "from": from, "id": wamid, "timestamp": timestamp,
                        "type": "text", "text": { "body": text }
                    }]
                }}]}]
            }))
            .expect("a JSON value serialises");
            let signature = HeaderValue::from_str(&sign(account.app_secret, &body))
                .expect("hex is a valid header value");
            Webhook {
                body: Bytes::from(body),
                signature,
            }
        })
        .collect()
}

/// `X-Hub-Signature-256`: `sha256=` and the hex HMAC-SHA256 of the raw body.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(8192)
        .pool_idle_timeout(None::<Duration>)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// Sends every webhook at its due time and waits for all answers.
pub async fn send_open_loop(
    url: &str,
    client: &reqwest::Client,
    webhooks: Arc<Vec<Webhook>>,
    rate: u32,
    tracker: Arc<Tracker>,
) -> SendPhase {
    // A short lead so the first due times are not already in the past.
    let t0 = tracker.now_ns() + 50_000_000;
    let mut phase = SendPhase {
        t0,
        last_scheduled: t0,
        answers_done: t0,
        max_in_flight: 0,
        rate,
    };
    let url: Arc<str> = Arc::from(url);
    let in_flight = Arc::new(AtomicU64::new(0));
    let max_in_flight = Arc::new(AtomicU64::new(0));
    let tasks = TaskTracker::new();
    for seq in 0..webhooks.len() {
        let due = tracker.instant(phase.due(seq));
        if due > std::time::Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        let (client, url, webhooks, tracker) = (
            client.clone(),
            url.clone(),
            webhooks.clone(),
            tracker.clone(),
        );
        let (in_flight, max_in_flight) = (in_flight.clone(), max_in_flight.clone());
        tasks.spawn(async move {
            let hook = &webhooks[seq];
            let now = in_flight.fetch_add(1, Relaxed) + 1;
            max_in_flight.fetch_max(now, Relaxed);
            tracker.sent(seq, tracker.now_ns());
            let answer = client
                .post(&*url)
                .header(CONTENT_TYPE, "application/json")
                .header("x-hub-signature-256", hook.signature.clone())
                .body(hook.body.clone())
                .send()
                .await;
            match answer {
                Ok(response) => {
                    tracker.answered(seq, response.status().as_u16(), tracker.now_ns());
                    // Read the (tiny) body so the connection goes back to the pool.
                    let _ = response.bytes().await;
                }
                Err(_) => tracker.answered(seq, 0, tracker.now_ns()),
            }
            in_flight.fetch_sub(1, Relaxed);
        });
    }
    phase.last_scheduled = tracker.now_ns();
    tasks.close();
    tasks.wait().await;
    phase.answers_done = tracker.now_ns();
    phase.max_in_flight = max_in_flight.load(Relaxed);
    phase
}

/// Waits until every acknowledged webhook has its reply or `limit` has passed; then a
/// short grace period so late duplicates are counted too. Returns how long it waited.
pub async fn drain(tracker: &Tracker, limit: Duration) -> Duration {
    let start = std::time::Instant::now();
    while start.elapsed() < limit && tracker.missing() > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let waited = start.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    waited
}
