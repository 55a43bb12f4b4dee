//! Background work: the group-commit ingestor, the inbox (runs the engine per
//! conversation), the outbox (delivers with retries, pacing and the window rule), the
//! timer loop and the media downloads (with their retention sweep). Each loop sleeps until
//! woken or until its next deadline and stops on the shared shutdown token.

pub mod broadcasts;
pub mod inbox;
pub mod ingest;
pub mod media;
pub mod outbox;
pub mod owner;
pub mod reload;

pub mod retry;
pub mod scheduler;
pub mod timers;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Wake-ups between workers in one process; other processes are found by polling.
#[derive(Debug, Default, Clone)]
pub struct Wakeups {
    pub inbox: Arc<Notify>,
    pub outbox: Arc<Notify>,
    pub timers: Arc<Notify>,
    /// Inbound media to download.
    pub media: Arc<Notify>,
}

/// The claim → run loop the inbox and the outbox share: claim up to as many items as there
/// are free slots, run each in its own task, then sleep until woken, a slot frees up, the
/// poll interval passes or shutdown. At shutdown it stops claiming and waits for the items
/// in progress.
pub(crate) async fn claim_loop<T, C, CF, R, RF>(
    concurrency: usize,
    poll_interval: Duration,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
    claim: C,
    run: R,
) where
    T: Send + 'static,
    C: Fn(usize) -> CF,
    CF: Future<Output = Vec<T>>,
    R: Fn(T) -> RF,
    RF: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(concurrency));
    let tasks = TaskTracker::new();
    while !shutdown.is_cancelled() {
        let free = slots.available_permits();
        let claimed = if free == 0 {
            Vec::new()
        } else {
            claim(free).await
        };
        let got_full_batch = free > 0 && claimed.len() == free;
        for item in claimed {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let work = run(item);
            let wake = wake.clone();
            // A step waiting on a language model gives its slot back meanwhile
            // (`engine::slot::idle`).
            let slot = crate::engine::slot::Slot::new(permit, slots.clone(), wake.clone());
            tasks.spawn(async move {
                slot.scope(work).await;
                // A slot is free again (and, for the outbox, the conversation's next
                // message may be claimable): look for more work.
                wake.notify_one();
            });
        }
        if got_full_batch {
            continue;
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll_interval) => {}
            _ = shutdown.cancelled() => {}
        }
    }
    tasks.close();
    tasks.wait().await;
}
