//! Writing a send's outcome: retried in-process past a database outage (what the provider
//! did must not be forgotten), and while one waits, nothing more is claimed ([`Unrecorded`]).

use super::Outbox;
use crate::metrics as m;
use crate::store::{NextSend, OutboxItem, SendOutcome, StoreError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Backoff between attempts to write a send's outcome after a transient database error.
const RECORD_RETRY_FIRST: Duration = Duration::from_millis(100);
const RECORD_RETRY_MAX: Duration = Duration::from_secs(2);

/// Counts one unwritten outcome (or a lease the inbox is giving back) for as long as it
/// lives: while any lives, this process's outbox claims nothing.
pub(in crate::workers) struct Unrecorded(Arc<AtomicUsize>);

impl Unrecorded {
    pub(in crate::workers) fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count.clone())
    }
}

impl Drop for Unrecorded {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Outbox {
    /// Writes the outcome, retrying a transient database error in-process for as long as
    /// it takes: what the provider did must not be forgotten, or the send would be repeated
    /// when its lease runs out.
    pub(super) async fn record(&self, item: &OutboxItem, outcome: &SendOutcome) -> NextSend {
        let mut waiting: Option<Unrecorded> = None;
        let mut backoff = RECORD_RETRY_FIRST;
        loop {
            // While an earlier outcome waits to be written, claim nothing more (see
            // `unrecorded`).
            let lease = self.send_lease();
            let result = if self.unrecorded.load(Ordering::SeqCst) > 0 {
                self.store
                    .record_outcome(item.id, &self.owner, outcome, self.clock.now())
                    .await
                    .map(|()| NextSend::Unknown)
            } else {
                self.store
                    .record_outcome_and_claim_next(
                        item,
                        &self.owner,
                        outcome,
                        self.clock.now(),
                        lease,
                    )
                    .await
            };
            match result {
                Ok(next) => {
                    if waiting.is_some() {
                        tracing::info!(
                            outbound_id = item.id,
                            "send outcome recorded after the database came back"
                        );
                    }
                    return next;
                }
                Err(StoreError::LeaseLost { .. }) => {
                    tracing::warn!(
                        outbound_id = item.id,
                        "send lease expired before the outcome was recorded"
                    );
                    return NextSend::Unknown;
                }
                Err(e) if e.is_transient() => {
                    waiting.get_or_insert_with(|| Unrecorded::new(&self.unrecorded));
                    metrics::counter!(m::STORE_RETRIES, "work" => "outcome").increment(1);
                    crate::metrics::logs::log_every!(warn, outbound_id = item.id, error = %e, retry_in = ?backoff, "recording the send outcome failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(RECORD_RETRY_MAX);
                }
                Err(e) => {
                    tracing::error!(outbound_id = item.id, error = %e, "recording send outcome failed");
                    return NextSend::Unknown;
                }
            }
        }
    }
}
