//! One endpoint's delivery loop: fan out new events past its cursor into delivery rows,
//! claim the due ones under a lease, deliver each on its own task (at most
//! `events.concurrency` at once), record the outcome, and sleep until a delivery finishes
//! or `events.poll_interval` passes. It runs beside the inbox and outbox, never in their
//! way: a dead endpoint holds only its own tasks, each bounded by its timeout.
//!
//! At least once: a delivery is marked delivered only after the endpoint answered 2xx; a
//! process that dies mid-delivery leaves its lease to run out, and the delivery is made
//! again (the receiver deduplicates on `webhook-id`).
//!
//! A gap in the event ids (on PostgreSQL a transaction that took an id may commit after one
//! that took a later id) holds the cursor back for `GAP_WAIT`, long enough for any
//! transaction to commit; a gap still there after that is a rolled-back one and is passed.

use super::deliver::{Deliverer, Outcome};
use super::schedule::next_attempt;
use crate::domain::{Clock, Id, OutEvent};
use crate::store::{ClaimedDelivery, DeliveryResult, DynStore};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long a gap in event ids holds the cursor back.
const GAP_WAIT: Duration = Duration::from_secs(10);
/// Events read past the cursor at once.
const FAN_OUT_BATCH: i64 = 500;
/// How long deliveries in flight may finish after shutdown is asked; then they are dropped
/// (their leases run out, and they are made again).
const STOP_GRACE: Duration = Duration::from_secs(2);

pub struct EndpointWorker {
    pub store: DynStore,
    pub clock: Arc<dyn Clock>,
    pub deliverer: Arc<dyn Deliverer>,
    pub owner: String,
    pub schedule: Vec<Duration>,
    pub jitter: f64,
    pub concurrency: usize,
    pub poll: Duration,
    pub lease: Duration,
}

/// Where fan-out stands: the cursor and the gap it waits at, if any.
struct FanOut {
    cursor: Id,
    gap: Option<(Id, Instant)>,
}

impl EndpointWorker {
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let name = self.deliverer.name().to_string();
        let mut fan = loop {
            match self.store.event_cursor(&name).await {
                Ok(cursor) => break FanOut { cursor, gap: None },
                Err(e) => {
                    tracing::warn!(endpoint = %name, error = %e, "events out: reading the cursor failed");
                    if sleep_or_stop(&stop, self.poll).await {
                        return;
                    }
                }
            }
        };
        tracing::info!(endpoint = %name, cursor = fan.cursor, "events out: delivering");
        let permits = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let done = Arc::new(Notify::new());
        let mut tasks = JoinSet::new();
        while !stop.is_cancelled() {
            while tasks.try_join_next().is_some() {}
            let mut busy = match self.fan_out(&mut fan).await {
                Ok(more) => more,
                Err(e) => {
                    tracing::warn!(endpoint = %name, error = %e, "events out: fan-out failed");
                    false
                }
            };
            let free = permits.available_permits();
            if free > 0 {
                match self.claim(free).await {
                    Ok(claimed) => {
                        busy |= claimed.len() == free;
                        for c in claimed {
                            let Ok(permit) = permits.clone().try_acquire_owned() else {
                                break;
                            };
                            let (me, done) = (self.clone(), done.clone());
                            tasks.spawn(async move {
                                me.deliver(c).await;
                                drop(permit);
                                done.notify_one();
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(endpoint = %name, error = %e, "events out: claiming failed")
                    }
                }
            }
            if busy {
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = done.notified() => {}
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
        if tokio::time::timeout(STOP_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tasks.abort_all();
        }
    }

    /// Fans out the events past the cursor; `true` when there may be more right away.
    async fn fan_out(&self, fan: &mut FanOut) -> crate::store::StoreResult<bool> {
        let events = self.store.events_after(fan.cursor, FAN_OUT_BATCH).await?;
        let full = events.len() as i64 == FAN_OUT_BATCH;
        let mut through = fan.cursor;
        let mut wanted: Vec<OutEvent> = Vec::new();
        for e in events {
            if e.id != through + 1 {
                let missing = through + 1;
                match fan.gap {
                    Some((id, since)) if id == missing && since.elapsed() >= GAP_WAIT => {}
                    Some((id, _)) if id == missing => break,
                    _ => {
                        fan.gap = Some((missing, Instant::now()));
                        break;
                    }
                }
            }
            through = e.id;
            if self.deliverer.wants(e.kind, e.sender_id) {
                wanted.push(e);
            }
        }
        if through == fan.cursor {
            return Ok(false);
        }
        let name = self.deliverer.name();
        self.store
            .fan_out(name, &wanted, through, self.clock.now())
            .await?;
        fan.cursor = through;
        Ok(full)
    }

    async fn claim(&self, n: usize) -> crate::store::StoreResult<Vec<ClaimedDelivery>> {
        let now = self.clock.now();
        let until = crate::domain::clock::later(now, self.lease);
        self.store
            .claim_deliveries(self.deliverer.name(), &self.owner, now, until, n as i64)
            .await
    }

    /// One attempt, its outcome recorded.
    async fn deliver(&self, c: ClaimedDelivery) {
        let attempt = u32::try_from(c.attempts + 1).unwrap_or(u32::MAX);
        // The deliverer bounds itself; this bounds one that does not, inside the lease.
        let limit = self
            .lease
            .saturating_sub(Duration::from_secs(1))
            .max(Duration::from_secs(1));
        let outcome = tokio::time::timeout(limit, self.deliverer.deliver(&c.event, attempt))
            .await
            .unwrap_or_else(|_| Outcome::Retry {
                status: None,
                error: format!("no outcome within {}", humantime::format_duration(limit)),
            });
        let now = self.clock.now();
        let result = match outcome {
            Outcome::Delivered { status } => DeliveryResult::Delivered {
                status: status.map(i64::from),
            },
            Outcome::Park { status, error } => DeliveryResult::Park {
                status: status.map(i64::from),
                error,
            },
            Outcome::Retry { status, error } => {
                let next =
                    next_attempt(&self.schedule, self.jitter, attempt, now, &mut rand::rng());
                match next {
                    Some(next_at) => DeliveryResult::Retry {
                        status: status.map(i64::from),
                        error,
                        next_at,
                    },
                    None => DeliveryResult::Park {
                        status: status.map(i64::from),
                        error: format!("parked after {attempt} attempts: {error}"),
                    },
                }
            }
        };
        let name = self.deliverer.name();
        match &result {
            DeliveryResult::Delivered { .. } => {}
            DeliveryResult::Retry { error, next_at, .. } => {
                tracing::info!(endpoint = %name, event = c.event.id, attempt, %next_at, %error, "events out: delivery failed, will retry")
            }
            DeliveryResult::Park { error, .. } => {
                tracing::warn!(endpoint = %name, event = c.event.id, attempt, %error, "events out: delivery parked (replay with `parley events replay`)")
            }
        }
        match self
            .store
            .finish_delivery(c.id, &self.owner, &result, now)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(endpoint = %name, delivery = c.id, "events out: the delivery's lease was taken over; its outcome is not recorded")
            }
            Err(e) => {
                tracing::warn!(endpoint = %name, delivery = c.id, error = %e, "events out: recording a delivery failed; it is made again when its lease runs out")
            }
        }
    }
}

/// Sleeps `d`; `true` when stopped meanwhile.
async fn sleep_or_stop(stop: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}
