//! Group commit on PostgreSQL: writes of the same kind from many conversations (step
//! commits, accepted sends) wait in a queue; a batch takes every write waiting at that
//! moment and runs them as ONE set-based statement, its own transaction. Loading
//! conversations' work uses the same queue, as one query per batch. Idle, a write
//! runs at once as a batch of one; under load, writes that arrive while batches are
//! running share the next one, so a statement and a WAL flush carry many writes instead
//! of one each.
//!
//! Each write in a batch is guarded on its own (a lost lease refuses that write only), and
//! a batch that fails as a whole (a deadlock, a lost connection) is retried one write at a
//! time by the caller's `single` path, so every write gets its own precise answer.

use super::super::{StoreError, StoreResult};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

type Job<J, R> = (J, oneshot::Sender<StoreResult<R>>);

pub(super) struct Batcher<J, R> {
    tx: mpsc::UnboundedSender<Job<J, R>>,
}

impl<J, R> Clone for Batcher<J, R> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<J, R> std::fmt::Debug for Batcher<J, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Batcher")
    }
}

impl<J: Send + 'static, R: Send + 'static> Batcher<J, R> {
    /// Starts the batching task. `run` gets up to `max` writes and answers each, in order;
    /// at most `in_flight` batches run at once (each holds one pooled connection). The task
    /// ends when every `Batcher` handle is gone.
    pub(super) fn spawn<F, Fut>(kind: &'static str, max: usize, in_flight: usize, run: F) -> Self
    where
        F: Fn(Vec<J>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<StoreResult<R>>> + Send + 'static,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job<J, R>>();
        let slots = Arc::new(Semaphore::new(in_flight.max(1)));
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                // Waiting for a free slot is what lets the next batch grow under load.
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break;
                };
                let mut jobs = vec![first];
                while jobs.len() < max {
                    match rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                metrics::counter!(crate::metrics::POSTGRES_BATCHES, "kind" => kind).increment(1);
                metrics::counter!(crate::metrics::POSTGRES_BATCHED, "kind" => kind)
                    .increment(jobs.len() as u64);
                let (jobs, answers): (Vec<J>, Vec<_>) = jobs.into_iter().unzip();
                let batch = run(jobs);
                tokio::spawn(async move {
                    let results = batch.await;
                    debug_assert_eq!(results.len(), answers.len());
                    for (result, answer) in results.into_iter().zip(answers) {
                        let _ = answer.send(result);
                    }
                    drop(slot);
                });
            }
        });
        Self { tx }
    }

    /// Queues `job` and waits for its own result.
    pub(super) async fn submit(&self, job: J) -> StoreResult<R> {
        let (answer, result) = oneshot::channel();
        self.tx
            .send((job, answer))
            .map_err(|_| StoreError::WriterStopped)?;
        result.await.map_err(|_| StoreError::WriterStopped)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Jobs submitted together share batches, never more than `in_flight` run at once,
    /// and every caller gets the answer to its own job.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_jobs_share_batches_and_each_gets_its_own_answer() {
        let batches = Arc::new(AtomicUsize::new(0));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (b, r, m) = (batches.clone(), running.clone(), most.clone());
        let batcher: Batcher<u32, u32> = Batcher::spawn("test", 64, 2, move |jobs: Vec<u32>| {
            let (b, r, m) = (b.clone(), r.clone(), m.clone());
            async move {
                b.fetch_add(1, Ordering::SeqCst);
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                r.fetch_sub(1, Ordering::SeqCst);
                jobs.into_iter()
                    .map(|j| {
                        if j % 7 == 0 {
                            Err(StoreError::NotFound {
                                what: "job",
                                id: j as i64,
                            })
                        } else {
                            Ok(j * 10)
                        }
                    })
                    .collect()
            }
        });
        let results = futures::future::join_all((0..500u32).map(|j| batcher.submit(j))).await;
        for (j, result) in results.into_iter().enumerate() {
            match result {
                Ok(v) => assert_eq!(v, j as u32 * 10),
                Err(StoreError::NotFound { id, .. }) => {
                    assert_eq!(j % 7, 0);
                    assert_eq!(id, j as i64);
                }
                Err(e) => panic!("job {j}: {e}"),
            }
        }
        let batches = batches.load(Ordering::SeqCst);
        assert!(batches < 100, "500 jobs took {batches} batches");
        assert!(batches >= 500 / 64, "a batch carried more than 64 jobs");
        assert!(most.load(Ordering::SeqCst) <= 2);
    }
}
