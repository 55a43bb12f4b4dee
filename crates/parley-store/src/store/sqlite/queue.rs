//! The writer thread's queue of jobs: many senders, one receiver, and a wake-up given
//! after the lock is let go.
//!
//! `std::sync::mpsc` wakes a sleeping receiver while it holds the lock of the receiver's
//! waker list. On one core that is the wrong order: the woken SQLite writer preempts the
//! sender (a worker, or the HTTP thread) inside that lock, runs its job, comes back for
//! the next one, finds the lock still held by the thread it preempted, and sleeps on it,
//! which costs two more context switches and as many system calls. `perf` found 1.6 % of
//! Parley's samples at 1,000 webhooks/s in the writer's sleeps inside the channel's
//! `register` and 1.2 % in senders preempted inside its `notify` (BENCHMARKS.md,
//! "A queue that wakes the writer after letting go"). Here a sender holds the lock only to
//! push, and wakes the receiver, if it sleeps, after letting go.

use std::collections::VecDeque;
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

struct State<T> {
    items: VecDeque<T>,
    /// Senders alive: the receiver hears `Disconnected` once none are and the queue is empty.
    senders: usize,
    /// Whether the receiver was dropped: sends fail from then on.
    closed: bool,
    /// Whether the receiver sleeps on `wake`: only then does a send wake it.
    sleeping: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    wake: Condvar,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding the lock leaves a consistent `State` (each change is one
        // step), so a poisoned lock is taken as it is.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A new queue: its one receiver and a sender to clone.
pub(super) fn queue<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            senders: 1,
            closed: false,
            sleeping: false,
        }),
        wake: Condvar::new(),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

pub(super) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues `item`, or gives it back if the receiver is gone.
    pub(super) fn send(&self, item: T) -> Result<(), T> {
        let sleeping = {
            let mut state = self.shared.lock();
            if state.closed {
                return Err(item);
            }
            state.items.push_back(item);
            std::mem::take(&mut state.sleeping)
        };
        if sleeping {
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    /// Whether nothing is queued (the receiver may still be running what it took).
    pub(super) fn is_empty(&self) -> bool {
        self.shared.lock().items.is_empty()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let last = {
            let mut state = self.shared.lock();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            self.shared.wake.notify_one();
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sender")
    }
}

pub(super) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    pub(super) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = self.shared.lock();
        match state.items.pop_front() {
            Some(item) => Ok(item),
            None if state.senders == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// The next item, waiting as long as a sender is alive.
    pub(super) fn recv(&self) -> Result<T, RecvTimeoutError> {
        self.wait(None)
    }

    pub(super) fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.wait(Some(Instant::now() + timeout))
    }

    fn wait(&self, until: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let mut state = self.shared.lock();
        loop {
            if let Some(item) = state.items.pop_front() {
                state.sleeping = false;
                return Ok(item);
            }
            if state.senders == 0 {
                return Err(RecvTimeoutError::Disconnected);
            }
            state.sleeping = true;
            state = match until {
                None => self
                    .shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(until) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        state.sleeping = false;
                        return Err(RecvTimeoutError::Timeout);
                    }
                    self.shared
                        .wake
                        .wait_timeout(state, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        // The items' own drops (jobs whose callers then hear that the writer stopped) run
        // outside the lock.
        let items = std::mem::take(&mut state.items);
        drop(state);
        drop(items);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_in_order_from_every_sender_and_the_end_is_told() {
        let (tx, rx) = queue::<u32>();
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        tx2.send(2).unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(20)),
            Err(RecvTimeoutError::Timeout)
        );
        tx.send(3).unwrap();
        drop(tx);
        drop(tx2);
        // What was sent before the last sender went still comes, then the end.
        assert_eq!(rx.recv(), Ok(3));
        assert_eq!(rx.recv(), Err(RecvTimeoutError::Disconnected));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn a_sleeping_receiver_is_woken_by_a_send_and_by_the_last_sender_leaving() {
        let (tx, rx) = queue::<u32>();
        let receiver = std::thread::spawn(move || {
            let first = rx.recv();
            let second = rx.recv_timeout(Duration::from_secs(30));
            let third = rx.recv();
            (first, second, third)
        });
        for item in [7, 8] {
            // Give the receiver time to fall asleep before each send.
            std::thread::sleep(Duration::from_millis(50));
            tx.send(item).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        drop(tx);
        assert_eq!(
            receiver.join().unwrap(),
            (Ok(7), Ok(8), Err(RecvTimeoutError::Disconnected))
        );
    }

    #[test]
    fn a_send_after_the_receiver_is_gone_gives_the_item_back() {
        let (tx, rx) = queue::<String>();
        tx.send("kept".into()).unwrap();
        drop(rx);
        assert_eq!(tx.send("late".into()), Err("late".to_string()));
    }
}
