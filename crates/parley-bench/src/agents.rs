//! Waiting agents (`--agent-waiting N`): N conversations of their own (contacts apart from
//! the measured ones) each kept in an `agent` turn whose model answers after the model
//! delay. Each sends `slow <k>`; when the assistant's reply reaches the Graph API double,
//! the contact writes again at once, so N calls stay waiting on the model while the measured
//! traffic runs. Closed loop per contact, and not in the figures: only how they load Parley.

use crate::load::{self, Account};
use crate::model::SLOW;
use reqwest::header::CONTENT_TYPE;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The WhatsApp id (digits) of waiting contact `k`: 1777 and seven digits, apart from the
/// measured contacts' 1555… and the script load's 1666….
pub fn contact_digits(k: u32) -> String {
    format!("1777{k:07}")
}

/// The waiting contact a reply's text (`slow <k>`) belongs to.
pub fn contact_of(text: &str) -> Option<u32> {
    let mut words = text.split_whitespace();
    if words.next()? != SLOW {
        return None;
    }
    words.next()?.parse().ok()
}

/// What the waiting agents did.
#[derive(Debug, Default)]
pub struct AgentCounts {
    pub webhooks: AtomicU64,
    pub non_200: AtomicU64,
    /// Replies of waiting turns that reached the Graph API double.
    pub replies: AtomicU64,
}

/// The owned parts of an `Account`, for tasks that outlive the caller's borrow.
struct Target {
    url: String,
    phone_number_id: String,
    display_phone_number: String,
    app_secret: String,
    run: String,
}

pub struct Agents {
    /// The Graph API double hands each waiting contact's reply here.
    pub replies: mpsc::UnboundedSender<u32>,
    pub counts: Arc<AgentCounts>,
    stop: Arc<AtomicBool>,
    driver: tokio::task::JoinHandle<()>,
}

impl Agents {
    /// Starts `n` conversations, their first messages spread over `ramp`, each writing again
    /// as soon as its reply is in.
    pub fn start(
        n: u32,
        url: &str,
        account: &Account,
        client: reqwest::Client,
        ramp: Duration,
    ) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        let counts = Arc::new(AgentCounts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let target = Arc::new(Target {
            url: url.to_string(),
            phone_number_id: account.phone_number_id.to_string(),
            display_phone_number: account.display_phone_number.to_string(),
            app_secret: account.app_secret.to_string(),
            run: uuid::Uuid::new_v4().simple().to_string()[..8].to_string(),
        });
        let turn = Arc::new(AtomicU64::new(0));
        let driver = {
            let (counts, stop) = (counts.clone(), stop.clone());
            tokio::spawn(async move {
                let send = |k: u32| {
                    let (target, client, counts, turn) =
                        (target.clone(), client.clone(), counts.clone(), turn.clone());
                    tokio::spawn(async move {
                        let t = turn.fetch_add(1, Relaxed);
                        send_one(&target, &client, &counts, k, t).await;
                    });
                };
                let step = ramp / n.max(1);
                for k in 0..n {
                    if stop.load(Relaxed) {
                        return;
                    }
                    send(k);
                    tokio::time::sleep(step).await;
                }
                while let Some(k) = rx.recv().await {
                    counts.replies.fetch_add(1, Relaxed);
                    if !stop.load(Relaxed) && k < n {
                        send(k);
                    }
                }
            })
        };
        Self {
            replies: tx,
            counts,
            stop,
            driver,
        }
    }

    /// No more messages after this; replies still on their way are counted.
    pub fn stop(&self) {
        self.stop.store(true, Relaxed);
    }
}

impl Drop for Agents {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// One signed `slow <k>` message from waiting contact `k` (its `t`-th webhook of the run).
async fn send_one(target: &Target, client: &reqwest::Client, counts: &AgentCounts, k: u32, t: u64) {
    let from = contact_digits(k);
    let body = serde_json::to_vec(&serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": target.display_phone_number,
                "phone_number_id": target.phone_number_id
            },
            "contacts": [{ "profile": { "name": format!("Waiting {k}") }, "wa_id": from }],
            "messages": [{
                "from": from,
                "id": format!("wamid.BENCHSLOW{}{t:09}", target.run),
                "timestamp": chrono::Utc::now().timestamp().to_string(),
                "type": "text", "text": { "body": format!("{SLOW} {k}") }
            }]
        }}]}]
    }))
    .expect("a JSON value serialises");
    counts.webhooks.fetch_add(1, Relaxed);
    let answer = client
        .post(&target.url)
        .header(CONTENT_TYPE, "application/json")
        .header("x-hub-signature-256", load::sign(&target.app_secret, &body))
        .body(body)
        .send()
        .await;
    match answer {
        Ok(r) if r.status().is_success() => {
            let _ = r.bytes().await;
        }
        _ => {
            counts.non_200.fetch_add(1, Relaxed);
        }
    }
}

/// How many calls waited on the model while the measured traffic ran, sampled every
/// 100 ms by `watch`.
#[derive(Debug, Default, Clone, Copy)]
pub struct WaitingSeen {
    pub min: u64,
    pub mean: f64,
}

/// Samples `waiting` every 100 ms until `done` is set.
pub async fn watch(waiting: impl Fn() -> u64, done: Arc<AtomicBool>) -> WaitingSeen {
    let (mut min, mut sum, mut samples) = (u64::MAX, 0u64, 0u64);
    while !done.load(Relaxed) {
        let now = waiting();
        min = min.min(now);
        sum += now;
        samples += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    WaitingSeen {
        min: if samples == 0 { 0 } else { min },
        mean: if samples == 0 {
            0.0
        } else {
            sum as f64 / samples as f64
        },
    }
}

/// What the model double answered in a run with agents, and the waiting conversations.
pub fn figures(
    m: &crate::model::ModelDouble,
    agents: Option<&Agents>,
    double: &crate::double::Double,
    args: &crate::Args,
    waiting: u32,
    waiting_seen: Option<WaitingSeen>,
) -> crate::report::AgentFigures {
    use std::sync::atomic::Ordering::Relaxed;
    crate::report::AgentFigures {
        model_calls: m.counts().answered.load(Relaxed),
        model_refused: m.counts().malformed.load(Relaxed),
        typing: double.typing(),
        waiting: agents.map(|a| crate::report::WaitingFigures {
            conversations: waiting,
            model_delay_ms: args.model_delay.as_millis() as u64,
            waiting_min: waiting_seen.map_or(0, |w| w.min),
            waiting_mean: waiting_seen.map_or(0.0, |w| w.mean),
            webhooks: a.counts.webhooks.load(Relaxed),
            non_200: a.counts.non_200.load(Relaxed),
            turns: a.counts.replies.load(Relaxed),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::routing::post;
    use axum::Router;
    use std::sync::Mutex;

    #[test]
    fn waiting_contacts_are_apart_from_the_measured_ones() {
        assert_eq!(contact_digits(42), "17770000042");
        assert_ne!(
            contact_digits(42),
            crate::record::contact_digits(42),
            "measured contacts are 1555…"
        );
        assert_eq!(contact_of("slow 42"), Some(42));
        assert_eq!(contact_of("agent 42"), None);
        assert_eq!(contact_of("slow"), None);
    }

    /// Each contact writes once, then again each time its reply comes back, with a new
    /// message id every time, until stopped.
    #[tokio::test]
    async fn each_contact_writes_again_when_its_reply_is_in() {
        type Seen = Arc<Mutex<Vec<(String, String, bool)>>>;
        let seen: Seen = Arc::default();
        let app = Router::new()
            .route(
                "/webhooks/meta",
                post(
                    |State(seen): State<Seen>, headers: axum::http::HeaderMap, body: Bytes| async move {
                        let signed = headers
                            .get("x-hub-signature-256")
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|v| v == load::sign("s3cret", &body));
                        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        let m = &v["entry"][0]["changes"][0]["value"]["messages"][0];
                        seen.lock().unwrap().push((
                            m["id"].as_str().unwrap().to_string(),
                            m["text"]["body"].as_str().unwrap().to_string(),
                            signed,
                        ));
                        "ok"
                    },
                ),
            )
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/meta", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let account = Account {
            phone_number_id: "106540352242922",
            display_phone_number: "15550783880",
            app_secret: "s3cret",
        };
        let agents = Agents::start(2, &url, &account, load::client().unwrap(), Duration::ZERO);
        let wait_for = |n: usize| {
            let seen = seen.clone();
            async move {
                for _ in 0..300 {
                    if seen.lock().unwrap().len() >= n {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("fewer than {n} webhooks arrived");
            }
        };
        wait_for(2).await;
        agents.replies.send(1).unwrap();
        wait_for(3).await;
        agents.stop();
        agents.replies.send(0).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let seen = seen.lock().unwrap().clone();
        let texts: Vec<&str> = seen.iter().map(|(_, t, _)| t.as_str()).collect();
        assert_eq!(texts.len(), 3, "nothing is sent after stop: {texts:?}");
        assert_eq!(texts[2], "slow 1");
        assert!(texts[..2].contains(&"slow 0") && texts[..2].contains(&"slow 1"));
        assert!(seen.iter().all(|(_, _, signed)| *signed));
        let ids: std::collections::HashSet<&str> =
            seen.iter().map(|(id, _, _)| id.as_str()).collect();
        assert_eq!(ids.len(), 3, "every message has an id of its own");
        assert_eq!(agents.counts.replies.load(Relaxed), 2);
        assert_eq!(agents.counts.webhooks.load(Relaxed), 3);
        assert_eq!(agents.counts.non_200.load(Relaxed), 0);
    }
}
