//! The Graph API double: an axum server on loopback in the benchmark process that answers
//! `POST /{version}/{phone_number_id}/messages` at once with a fresh wamid, and records when
//! each reply arrived, keyed by the webhook number echoed in the reply's text
//! (`kw<flow> <seq>`). It never fails or delays a send: provider behaviour is not what
//! is measured.

use crate::record::Tracker;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

pub struct Double {
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

struct DoubleState {
    tracker: Arc<Tracker>,
    next_id: AtomicU64,
}

#[derive(Deserialize)]
struct SendBody {
    #[serde(default)]
    to: String,
    #[serde(default)]
    text: Option<TextBody>,
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
        });
        let app = Router::new()
            .route("/{version}/{phone_number_id}/messages", post(messages))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("parley-bench: the Graph API double stopped: {e}");
            }
        });
        Ok(Self { addr, server })
    }

    /// What to put in the Meta sender's `api_base`.
    pub fn api_base(&self) -> String {
        format!("http://{}/v21.0", self.addr)
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn messages(State(st): State<Arc<DoubleState>>, body: Bytes) -> impl IntoResponse {
    let at = st.tracker.now_ns();
    let parsed = serde_json::from_slice::<SendBody>(&body).ok();
    let to = parsed
        .as_ref()
        .map(|b| b.to.trim_start_matches('+').to_string())
        .unwrap_or_default();
    match parsed
        .as_ref()
        .and_then(|b| b.text.as_ref())
        .and_then(|t| seq_of(&t.body))
    {
        Some(seq) => st.tracker.reply(seq, &to, at),
        None => {
            st.tracker.unexpected.fetch_add(1, Relaxed);
        }
    }
    let id = st.next_id.fetch_add(1, Relaxed);
    (
        [(CONTENT_TYPE, "application/json")],
        format!(
            r#"{{"messaging_product":"whatsapp","contacts":[{{"input":"{to}","wa_id":"{to}"}}],"messages":[{{"id":"wamid.BENCH{id:012}"}}]}}"#
        ),
    )
}

/// The webhook number in an echoed text `kw<flow> <seq>`.
fn seq_of(text: &str) -> Option<usize> {
    let (_, seq) = text.trim().split_once(' ')?;
    seq.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_webhook_number_from_the_echo() {
        assert_eq!(super::seq_of("kw7 12345"), Some(12345));
        assert_eq!(super::seq_of("kw7"), None);
        assert_eq!(super::seq_of("pong Tester"), None);
    }
}
