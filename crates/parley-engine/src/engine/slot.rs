//! A worker's slot, given back while a step waits on something slow that uses no CPU (a
//! language model): the inbox runs `inbox.concurrency` conversations at a time, and a
//! conversation waiting two seconds for a model must not keep another conversation's
//! webhook from being handled. The waiting conversation keeps its lease (its later messages
//! wait behind it, in order) and takes a slot again when the answer is in.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Tasks that may wait without a slot at once, in this process; beyond it a waiting task
/// keeps its slot (the worker then runs fewer conversations, never unboundedly many).
pub const MAX_IDLE: usize = 4096;

static IDLE: AtomicUsize = AtomicUsize::new(0);

tokio::task_local! {
    static SLOT: Slot;
}

/// The slot a worker task runs in.
#[derive(Clone)]
pub struct Slot {
    permit: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
    slots: Arc<Semaphore>,
    /// Woken when the slot is given back, so the worker claims more work.
    wake: Arc<Notify>,
}

impl Slot {
    pub fn new(permit: OwnedSemaphorePermit, slots: Arc<Semaphore>, wake: Arc<Notify>) -> Self {
        Self {
            permit: Arc::new(Mutex::new(Some(permit))),
            slots,
            wake,
        }
    }

    /// Runs `work` in this slot: `idle` inside it gives the slot back while it waits.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        SLOT.scope(self, work).await
    }
}

/// Awaits `f` without holding the current task's slot (when it runs in one), then takes a
/// slot again before going on.
pub async fn idle<F: Future>(f: F) -> F::Output {
    let Ok(slot) = SLOT.try_with(Clone::clone) else {
        return f.await;
    };
    if IDLE.fetch_add(1, Ordering::AcqRel) >= MAX_IDLE {
        IDLE.fetch_sub(1, Ordering::AcqRel);
        return f.await;
    }
    let given_back = slot.permit.lock().map(|mut p| p.take()).unwrap_or(None);
    let had_slot = given_back.is_some();
    drop(given_back);
    if had_slot {
        slot.wake.notify_one();
    }
    let out = f.await;
    IDLE.fetch_sub(1, Ordering::AcqRel);
    if had_slot {
        if let Ok(permit) = slot.slots.clone().acquire_owned().await {
            if let Ok(mut p) = slot.permit.lock() {
                *p = Some(permit);
            }
        }
    }
    out
}

/// Tasks waiting without a slot now, in this process.
pub fn idle_now() -> usize {
    IDLE.load(Ordering::Acquire)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_task_waiting_idle_gives_its_slot_to_another() {
        let slots = Arc::new(Semaphore::new(1));
        let wake = Arc::new(Notify::new());
        let permit = slots.clone().acquire_owned().await.unwrap();
        let slot = Slot::new(permit, slots.clone(), wake.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let waiting = tokio::spawn(slot.scope(async move {
            idle(async move {
                rx.await.unwrap();
            })
            .await;
            // It holds a slot again once the wait is over.
            assert!(SLOT.with(|s| s.permit.lock().unwrap().is_some()));
        }));
        // The slot is free while the first task waits: another task gets it at once.
        let other = tokio::time::timeout(Duration::from_secs(5), slots.clone().acquire_owned())
            .await
            .expect("the slot was given back")
            .unwrap();
        drop(other);
        tx.send(()).unwrap();
        waiting.await.unwrap();
        assert_eq!(idle_now(), 0);
        // Outside a slot, `idle` just waits.
        assert_eq!(idle(async { 7 }).await, 7);
    }
}
