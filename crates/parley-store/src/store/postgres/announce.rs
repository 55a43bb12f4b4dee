//! Work one process leaves for the others: `NOTIFY` and `LISTEN` on one channel.
//!
//! A webhook's conversation is leased to the inbox of the process that stores it while that
//! inbox has a free slot (`Ingest::ingest_and_claim`); when it has none, the conversation
//! waits for a claim. Its own inbox is woken in memory, but another process with free
//! slots would only find it at its next poll (`inbox.poll_interval`). So the statement that
//! stores the webhooks also notifies a channel (`channel!`) when a conversation it gave work
//! was leased by nobody, and every process listens on a connection of its own and claims
//! when told.
//! PostgreSQL delivers a notification when the statement commits, once per transaction
//! however many conversations wait, and never to a process that was not listening then: a
//! listener that lost its connection wakes its inbox once it is back, for what it missed.

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use std::time::Duration;
use tokio::sync::mpsc;

/// The channel of the schema Parley's tables are in (the first of the `search_path`), so
/// that installations sharing a database in schemas of their own do not wake each other:
/// what is notified on it is "inbox work waits for a claim". Kept under PostgreSQL's
/// 63-byte limit on names whatever the schema's name.
macro_rules! channel {
    () => {
        "'parley_work_' || left(md5(current_schema()), 16)"
    };
}
pub(super) use channel;

const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Listens on the schema's channel (`channel!`) until the receiver is dropped; each item says "claim now" (items
/// coming faster than they are taken are merged into one). Reconnects with backoff.
pub(super) fn listen(options: PgConnectOptions) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut backoff = RETRY_FIRST;
        loop {
            let listened = tokio::select! {
                r = listen_once(&options, &tx) => r,
                _ = tx.closed() => return,
            };
            match listened {
                // Listened, then lost its connection: start over at once.
                Ok(()) => backoff = RETRY_FIRST,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "listening for other processes' work failed; claims rely on polling meanwhile");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = tx.closed() => return,
                    }
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
            }
        }
    });
    rx
}

/// One connection's listening: returns when it is lost (after waking the inbox for what
/// may have been missed), or with the error that stopped it.
async fn listen_once(options: &PgConnectOptions, tx: &mpsc::Sender<()>) -> sqlx::Result<()> {
    // A pool of one, without timeouts: the listener's connection is held for good.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with(options.clone())
        .await?;
    let channel: String = sqlx::query_scalar(concat!("select ", channel!()))
        .fetch_one(&pool)
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.eager_reconnect(false);
    listener.listen(&channel).await?;
    // Whatever was announced before this connection listened is not delivered to it.
    let _ = tx.try_send(());
    loop {
        match listener.try_recv().await? {
            Some(_) => {
                let _ = tx.try_send(());
            }
            None => return Ok(()),
        }
    }
}
