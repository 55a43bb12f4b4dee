//! The broadcast worker: takes a due broadcast under a lease (so several processes on
//! PostgreSQL split broadcasts safely, and a killed process's broadcast is taken over when
//! its lease runs out), reads its audience in pages into recipient rows, then queues its
//! sends a page at a time — each page in the transaction that marks its recipients queued.
//! Pacing: it waits while the sender has more than `broadcasts.max_backlog` work pending
//! (the outbox keeps `messages_per_second`), each send waits for the pair rate, and a page
//! stops at the portfolio's messaging limit; the broadcast then rests until the moving 24
//! hours free capacity. Pause, resume and cancel are states in the database the worker
//! reads at every page.

pub mod plan;
pub mod report;
mod told;

use super::Wakeups;
use crate::config::Config;
use crate::domain::broadcast::PAIR_GAP;
use crate::domain::Clock;
use crate::flows::schedule::Member;
use crate::metrics as m;
use crate::store::{Broadcast, DynStore, NewRecipient, PageOutcome, StoreError, StoreResult};
use plan::{AudienceSpec, Renderer};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct BroadcastWorker {
    pub store: DynStore,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub owner: String,
    pub wake: Wakeups,
    /// Prices each send as its page queues it (the cost ledger).
    pub pricing: crate::store::SendPricing,
}

impl BroadcastWorker {
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            if let Err(e) = self.tick(&shutdown).await {
                crate::metrics::logs::error_every!(error = %e, "broadcast round failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.broadcasts.poll_interval) => {}
                _ = shutdown.cancelled() => {}
            }
        }
    }

    /// Runs every due broadcast once.
    pub async fn tick(&self, shutdown: &CancellationToken) -> StoreResult<()> {
        let settings = &self.config.broadcasts;
        while !shutdown.is_cancelled() {
            let Some(b) = self
                .store
                .claim_broadcast(&self.owner, self.clock.now(), settings.lease)
                .await?
            else {
                break;
            };
            match self.send(&b, shutdown).await {
                Ok(()) => {}
                Err(StoreError::LeaseLost { .. }) => {
                    tracing::warn!(broadcast = b.id, "another process took over this broadcast")
                }
                Err(e) => {
                    let _ = self.store.release_broadcast(b.id, &self.owner).await;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    async fn send(&self, b: &Broadcast, shutdown: &CancellationToken) -> StoreResult<()> {
        let settings = &self.config.broadcasts;
        let renderer = match Renderer::of(b, &self.config) {
            Ok(r) => r,
            Err(why) => {
                tracing::error!(broadcast = b.id, "{why}");
                return self.store.release_broadcast(b.id, &self.owner).await;
            }
        };
        if !b.prepared && !self.prepare(b, &renderer, shutdown).await? {
            return Ok(());
        }
        let mut queued = 0usize;
        let mut progress = told::Progress::default();
        loop {
            if shutdown.is_cancelled() {
                return self.store.release_broadcast(b.id, &self.owner).await;
            }
            while self.store.backlog(b.sender_id).await? > i64::from(settings.max_backlog) {
                if !self
                    .store
                    .renew_broadcast(b.id, &self.owner, self.clock.now(), settings.lease)
                    .await?
                {
                    return self.store.release_broadcast(b.id, &self.owner).await;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = shutdown.cancelled() => {
                        return self.store.release_broadcast(b.id, &self.owner).await
                    }
                }
            }
            let outcome = self
                .store
                .broadcast_queue_page(
                    b.id,
                    &self.owner,
                    i64::from(settings.page_size),
                    PAIR_GAP,
                    settings.reply_window,
                    self.clock.now(),
                    settings.lease,
                    &self.pricing,
                )
                .await?;
            match outcome {
                PageOutcome::Queued(n) => {
                    queued += n;
                    metrics::counter!(m::BROADCAST_QUEUED).increment(n as u64);
                    self.wake.outbox.notify_one();
                    if n == 0 {
                        // Nothing pending yet nothing done: an unprepared broadcast whose
                        // audience is read again at the next claim.
                        return self.store.release_broadcast(b.id, &self.owner).await;
                    }
                    let now = self.clock.now();
                    progress.tell(&self.store, b.id, now, false).await?;
                }
                PageOutcome::LimitReached { until, queued: n } => {
                    metrics::counter!(m::BROADCAST_QUEUED).increment(n as u64);
                    metrics::counter!(m::BROADCAST_LIMIT_WAITS).increment(1);
                    self.wake.outbox.notify_one();
                    let now = self.clock.now();
                    progress.tell(&self.store, b.id, now, true).await?;
                    tracing::info!(
                        broadcast = b.id,
                        portfolio = b.portfolio.as_deref().unwrap_or_default(),
                        resumes_at = %until,
                        queued = queued + n,
                        "broadcast reached its portfolio's messaging limit; it resumes when the moving 24 hours free capacity"
                    );
                    return Ok(());
                }
                PageOutcome::Finished => {
                    tracing::info!(broadcast = b.id, queued, "broadcast queued to everyone");
                    return Ok(());
                }
                PageOutcome::Stopped => {
                    return self.store.release_broadcast(b.id, &self.owner).await;
                }
            }
        }
    }

    /// Reads the audience into recipient rows, a page per transaction; `false` when the
    /// broadcast stopped meanwhile (paused, cancelled, shutdown).
    async fn prepare(
        &self,
        b: &Broadcast,
        renderer: &Renderer,
        shutdown: &CancellationToken,
    ) -> StoreResult<bool> {
        let settings = &self.config.broadcasts;
        let spec: AudienceSpec = match b
            .audience
            .as_ref()
            .map(|a| serde_json::from_value(a.clone()))
        {
            Some(Ok(spec)) => spec,
            _ => AudienceSpec::default(),
        };
        let audience = spec.audience();
        let mut cursor = b.cursor;
        loop {
            if shutdown.is_cancelled()
                || !self
                    .store
                    .renew_broadcast(b.id, &self.owner, self.clock.now(), settings.lease)
                    .await?
            {
                self.store.release_broadcast(b.id, &self.owner).await?;
                return Ok(false);
            }
            let page = self
                .store
                .broadcast_candidates(b.sender_id, cursor, i64::from(settings.page_size))
                .await?;
            let now = self.clock.now();
            let Some(last) = page.last() else {
                self.store
                    .broadcast_prepare(b.id, &self.owner, cursor, &[], true, now, settings.lease)
                    .await?;
                return Ok(true);
            };
            let next = last.contact.id;
            let rows: Vec<NewRecipient> = page
                .iter()
                .filter(|row| {
                    let member = Member {
                        tags: &row.contact.tags,
                        attributes: &row.contact.attributes,
                        last_inbound_at: row.last_inbound_at,
                        state: &row.state,
                    };
                    plan::in_audience(&audience, &member, now)
                })
                .map(|row| renderer.recipient(row.conversation_id, &row.contact, now))
                .collect();
            self.store
                .broadcast_prepare(b.id, &self.owner, next, &rows, false, now, settings.lease)
                .await?;
            cursor = next;
        }
    }
}
