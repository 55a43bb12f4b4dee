//! The one write connection of a SQLite store, on its own thread, with group commit.
//!
//! Every write is a job: a closure over the connection. The thread takes the first job that
//! waits, then every other job already queued (up to `MAX_BATCH`), and runs them all in ONE
//! `begin immediate … commit`, each inside its own savepoint, so a job that fails (a lost
//! lease, a corrupt row) undoes only its own changes (a job alone in its batch needs no
//! savepoint: if it fails, its transaction is rolled back instead). Callers hear back only
//! after the commit, so an answer always means "durable". Under load this turns thousands
//! of small transactions per second into a few hundred commits, and because a job runs
//! right on the connection's thread, a statement costs a function call instead of a
//! hand-off between threads (which is what sqlx's SQLite driver does for each statement).
//!
//! Webhook ingests go first (`run_first`): a batch takes every waiting ingest before any
//! other job, and an ingest that comes while a batch runs joins it after the job in
//! progress, ending it (`commit_batch`; the jobs not yet run go next). So a burst of other
//! writes (a thousand model answers coming back at once, a broadcast page) delays a
//! webhook's acknowledgement by at most one job and a commit, not by the rest of the batch
//! nor the whole queue. Other jobs keep their order among themselves.
//!
//! Some writes need not be durable at once: a send's outcome (the reply has already gone
//! out). They ride along (`run_riding`): such a job does not start a commit of its own but
//! joins the next one, and only if no other job comes within `RIDE_WAIT` is it committed
//! alone. A commit has a cost of its own (locks, the WAL's commit frame, a wake-up of this
//! thread); at 1,000 webhooks/s riding took commits per webhook from 2.08 to 1.53, and near
//! saturation (3,000/s) it kept the urgent jobs from queueing behind outcomes: e2e p99
//! 42–102 ms → 12–19 ms (BENCHMARKS.md, "Smaller pages, outcomes riding along").
//!
//! When the connection is free, nothing waits for it and it was lightly loaded of late, a
//! webhook's ingest, a step's commit (`run_short`), a read or a rider runs on its caller's
//! thread instead (`Writer::inline`): at 1,000 webhooks/s the hand-over to this thread and
//! back was four of a webhook's seven context switches. Under load the jobs go to this
//! thread as before, where those that come while a batch runs share the next commit; a
//! caller never waits there for a lock, the disk or a long job.
//!
//! Checkpoints never run inside a commit here: `checkpoint.rs` copies the WAL back on a
//! thread of its own, and this thread only copies the rest when no job waits for it.

mod commit;
mod job;
mod waiting;

use super::checkpoint::Checkpoints;
use super::connection::{more_lookaside, open_writing, set_synchronous};
use super::queue::{queue, Receiver, Sender};
use super::statements::Conn;
use crate::config::SqliteSynchronous;
use crate::store::{StoreError, StoreResult};
use commit::{begin, commit_batch, commit_begun};
use job::{caught, in_savepoint, Job, Lane, Ran, Run};
use rusqlite::Connection;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use waiting::{Waiting, MAX_BATCH};

/// How long a riding job waits for a commit to join before it is committed alone.
const RIDE_WAIT: Duration = Duration::from_millis(2);

#[derive(Debug, Clone)]
pub(super) struct Writer {
    jobs: Sender<(Lane, Job)>,
    /// The connection and the jobs sorted into lanes: held by the writer thread while it
    /// runs a batch, and by a caller that finds it free with nothing waiting (`inline`).
    shared: Arc<Mutex<Inner>>,
    /// Whether a caller may run its own job on its own thread when the connection is free
    /// (`Writer::inline`). Not with `synchronous = full`, whose commits wait for the disk.
    callers_run: bool,
    ride_wait: Duration,
    /// Transactions run, by the thread or by callers (committed or not); the tests read it to check
    /// that concurrent writes really share transactions.
    #[cfg_attr(not(test), allow(dead_code))]
    batches: Arc<AtomicU64>,
    /// The WAL's pages after the latest commit and the checkpoints run, for the tests.
    #[cfg_attr(not(test), allow(dead_code))]
    wal: (Arc<AtomicU32>, Arc<super::checkpoint::Counts>),
}

impl Writer {
    /// Opens the database file (already created and migrated) for writing and starts the
    /// writer thread, which ends when the last `Writer` clone is dropped.
    pub(super) fn open(
        path: &Path,
        sync: SqliteSynchronous,
        busy_timeout: Duration,
    ) -> StoreResult<Self> {
        Self::open_riding(path, sync, busy_timeout, RIDE_WAIT)
    }

    /// `open`, with riding jobs waiting `ride_wait` for company.
    fn open_riding(
        path: &Path,
        sync: SqliteSynchronous,
        busy_timeout: Duration,
        ride_wait: Duration,
    ) -> StoreResult<Self> {
        let conn = open_writing(path)?;
        more_lookaside(&conn);
        conn.busy_timeout(busy_timeout)?;
        conn.pragma_update(None, "journal_mode", "wal")?;
        set_synchronous(&conn, sync)?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "temp_store", "memory")?;
        // rusqlite's cache keeps only the statements whose SQL is built at run time, a few
        // cold ones; `statements.rs` keeps the rest.
        conn.set_prepared_statement_cache_capacity(32);
        let checkpoints = Checkpoints::start(&conn, path, sync, busy_timeout)?;
        let wal = (checkpoints.frames.clone(), checkpoints.counts.clone());
        let (jobs, queue) = queue::<(Lane, Job)>();
        let batches = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Mutex::new(Inner::new(
            conn,
            checkpoints,
            busy_timeout,
            batches.clone(),
        )));
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(&thread_shared, queue, ride_wait))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the SQLite writer: {e}")))?;
        Ok(Self {
            jobs,
            shared,
            callers_run: sync == SqliteSynchronous::Normal,
            ride_wait,
            batches,
            wal,
        })
    }

    /// Runs `f` on the write connection inside the next group transaction and returns its
    /// result once that transaction is committed. If `f` fails, its changes are undone and
    /// the error is returned; other jobs of the batch are not affected.
    pub(super) async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.submit(Lane::InTurn, Here::Never, f).await
    }

    /// `run` for a job known to be short (a step's commit: a few rows), which may run on
    /// the caller's thread when the connection is free (`Writer::inline`). A job that may
    /// write many rows (an import, a broadcast page, a sweep) goes through `run`: on the
    /// caller's thread it would hold up everything else that thread serves.
    pub(super) async fn run_short<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.submit(Lane::InTurn, Here::WhenFree, f).await
    }

    /// `run`, ahead of every job that is not itself `run_first` (webhook ingests, whose
    /// acknowledgement waits for the commit).
    pub(super) async fn run_first<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.submit(Lane::First, Here::WhenFree, f).await
    }

    /// A read of the hot path on the write connection: a prepared statement here costs a few
    /// microseconds where a reader connection costs a hand-off to its thread and back. Reads
    /// that wait while nothing else does run on their own, outside any write transaction
    /// (no lock, no commit); otherwise they join the next batch. `f` must not write.
    pub(super) async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.submit(Lane::Read, Here::WhenFree, f).await
    }

    /// `run` for a write that may wait up to `RIDE_WAIT` to share a commit with others
    /// (module docs); it is still durable when the answer comes.
    pub(super) async fn run_riding<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.submit(Lane::Riding, Here::WhenFree, f).await
    }

    async fn submit<T, F>(&self, lane: Lane, here: Here, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (tx, mut rx) = oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |run| {
            let result = match run {
                Run::Shared(conn) => in_savepoint(conn, f),
                Run::Alone(conn) => caught(conn, f),
                Run::Not => Err(StoreError::Commit(
                    "the write transaction did not begin".into(),
                )),
            };
            Ran {
                failed: result.is_err(),
                reply: Box::new(move |committed| {
                    let answer = match committed {
                        Ok(()) => result,
                        Err(e) => Err(StoreError::Commit(e)),
                    };
                    let _ = tx.send(answer);
                }),
            }
        });
        let inlined = match self.inline(lane, here, job) {
            Ok(()) => true,
            Err(job) => {
                self.jobs
                    .send((lane, job))
                    .map_err(|_| StoreError::WriterStopped)?;
                false
            }
        };
        if inlined && lane == Lane::Riding {
            // Left among the riders without waking the writer thread: the next commit takes
            // it along. Should none come within the wait, the thread is woken to commit it.
            match tokio::time::timeout(self.ride_wait, &mut rx).await {
                Ok(answer) => return answer.map_err(|_| StoreError::WriterStopped)?,
                Err(_) => {
                    let _ = self.jobs.send((Lane::Read, nothing()));
                }
            }
        }
        rx.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Runs `job` on the calling thread when the connection is free and nothing waits for
    /// it: the commit then costs no hand-over to the writer thread and back, which at 1,000
    /// webhooks/s were four of a message's seven context switches (BENCHMARKS.md, "Jobs run
    /// by their caller when the writer is free"). A job that starts
    /// a commit runs alone (with the riders waiting, which it takes along), a read outside
    /// any write transaction, a rider is only left among the riders. Gives `job` back, not
    /// run, when anything else waits or runs (so jobs keep their lanes' order and batches
    /// form under load), when the thread would wait for the disk (`synchronous = full`, or
    /// a WAL past the checkpoints' backstop), and when another process holds the
    /// database's write lock: the caller's thread never
    /// waits for a lock or a disk here, the writer thread does.
    fn inline(&self, lane: Lane, here: Here, job: Job) -> Result<(), Job> {
        if !self.callers_run || here == Here::Never {
            return Err(job);
        }
        let Ok(mut guard) = self.shared.try_lock() else {
            return Err(job);
        };
        if guard.waiting.ready() || !self.jobs.is_empty() || !guard.load.light() {
            return Err(job);
        }
        if guard.checkpoints.as_ref().expect(LIVE).past_backstop() {
            // The next commit may copy the WAL back and sync the file: the thread's.
            return Err(job);
        }
        let inner = &mut *guard;
        let conn = inner.conn.as_ref().expect(LIVE);
        match lane {
            Lane::Riding => inner.waiting.riding.push_back((Instant::now(), job)),
            Lane::Read => (job(Run::Shared(conn)).reply)(Ok(())),
            Lane::First | Lane::InTurn => {
                // Another process's write lock is not waited for here.
                let _ = conn.busy_timeout(Duration::ZERO);
                let began = begin(conn);
                let _ = conn.busy_timeout(inner.busy_timeout);
                if began.is_err() {
                    return Err(job);
                }
                let started = Instant::now();
                let mut batch = vec![job];
                batch.extend(inner.waiting.riding.drain(..).map(|(_, job)| job));
                inner.batches.fetch_add(1, Ordering::Relaxed);
                let (ran, _) = commit_begun(conn, batch, 1, &mut Vec::new);
                let checkpoints = inner.checkpoints.as_mut().expect(LIVE);
                committed(conn, checkpoints, &mut inner.load, started, ran, false);
                if checkpoints.waits_for_idle() {
                    // The checkpoint's last copy (and its fsync) is the thread's.
                    drop(guard);
                    let _ = self.jobs.send((Lane::Read, nothing()));
                }
            }
        }
        Ok(())
    }
}

/// Whether a job may run on its caller's thread (`Writer::inline`). Ingests (a webhook's
/// items, bounded by its size), reads, riders and `run_short`'s jobs may; `run`'s never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Here {
    WhenFree,
    Never,
}

/// A job that does nothing: it wakes the writer thread.
fn nothing() -> Job {
    Box::new(|_| Ran {
        reply: Box::new(|_| {}),
        failed: false,
    })
}

const LIVE: &str = "the writer's connection lives as long as its `Inner`";

/// The write connection, its statements and checkpoints, and the jobs waiting for it.
struct Inner {
    /// The statements prepared on `connection`; `None` only while dropping.
    conn: Option<Conn<'static>>,
    /// Leaked by `new` and given back by `drop`, after everything that borrows it.
    connection: &'static Connection,
    /// `None` only while dropping.
    checkpoints: Option<Checkpoints>,
    waiting: Waiting,
    load: Load,
    busy_timeout: Duration,
    batches: Arc<AtomicU64>,
}

/// How long the load of the connection is measured over.
const LOAD_WINDOW: Duration = Duration::from_millis(10);

/// The share of a window's time spent in transactions above which callers leave their jobs
/// to the writer thread. Run by their callers, jobs commit one by one; given to the thread,
/// the jobs that come while a batch runs share the next commit. Under load that sharing is
/// worth more than the hand-over it costs: with callers committing whenever the connection
/// was free, Parley pinned to one core fell to 6,400 replies/s at 8,000 webhooks/s, where
/// with this limit it keeps up (BENCHMARKS.md, "Jobs run by their caller when the writer is
/// free").
const LIGHT_LOAD: f64 = 0.25;

/// The connection's recent load: the share of the latest whole `LOAD_WINDOW` spent in
/// transactions.
struct Load {
    since: Instant,
    busy: Duration,
    share: f64,
    /// `LIGHT_LOAD`, or what a test sets.
    light_below: f64,
}

impl Load {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            busy: Duration::ZERO,
            share: 0.0,
            light_below: LIGHT_LOAD,
        }
    }

    /// Counts a transaction that began at `started` and just ended.
    fn note(&mut self, started: Instant) {
        let now = Instant::now();
        self.busy += now.saturating_duration_since(started);
        let span = now.saturating_duration_since(self.since);
        if span >= LOAD_WINDOW {
            self.share = self.busy.as_secs_f64() / span.as_secs_f64();
            self.since = now;
            self.busy = Duration::ZERO;
        }
    }

    fn light(&self) -> bool {
        self.share < self.light_below
    }
}

// SAFETY: `Inner` is only reached through its `Mutex`, so one thread at a time uses the
// connection and its statements (which is why they are not `Send`: rusqlite opens
// connections in SQLite's multi-thread mode, where a connection may move between threads
// but not be used by two at once). Nothing in it is tied to a thread: no thread-local
// state, and the WAL hook's counter is an atomic.
unsafe impl Send for Inner {}

impl Inner {
    fn new(
        conn: Connection,
        checkpoints: Checkpoints,
        busy_timeout: Duration,
        batches: Arc<AtomicU64>,
    ) -> Self {
        let connection: &'static Connection = Box::leak(Box::new(conn));
        Self {
            conn: Some(Conn::new(connection)),
            connection,
            checkpoints: Some(checkpoints),
            waiting: Waiting::default(),
            load: Load::new(),
            busy_timeout,
            batches,
        }
    }

    /// Runs what waits: batches while a job that starts a commit waits or riders are due
    /// (all of them when `closing`), reads on their own; then, with nothing left to run,
    /// the checkpoint's last copy. Returns when the oldest rider left is due.
    fn work(
        &mut self,
        queue: &Receiver<(Lane, Job)>,
        ride_wait: Duration,
        closing: bool,
    ) -> Option<Instant> {
        let conn = self.conn.as_ref().expect(LIVE);
        let checkpoints = self.checkpoints.as_mut().expect(LIVE);
        let waiting = &mut self.waiting;
        loop {
            // Everything waiting, sorted into its lane (the queue is unbounded anyway).
            while let Ok(item) = queue.try_recv() {
                waiting.take(item);
            }
            let due = waiting
                .riding
                .front()
                .is_some_and(|(since, _)| closing || since.elapsed() >= ride_wait);
            if !waiting.urgent() && !due {
                if waiting.reads.is_empty() {
                    // Nothing to run: the time for the checkpoint's last copy
                    // (`checkpoint.rs`), unless a job came meanwhile.
                    match queue.try_recv() {
                        Ok(item) => {
                            waiting.take(item);
                            continue;
                        }
                        Err(_) => checkpoints.when_idle(conn),
                    }
                    return waiting.riding.front().map(|(since, _)| *since + ride_wait);
                }
                // Only reads wait: each runs in a read transaction of its own, no commit.
                for read in waiting.reads.drain(..) {
                    // In a savepoint, which outside a transaction begins one: the read's
                    // statements see one snapshot.
                    (read(Run::Shared(conn)).reply)(Ok(()));
                }
                continue;
            }
            let started = Instant::now();
            let (batch, leading) = waiting.batch();
            self.batches.fetch_add(1, Ordering::Relaxed);
            let (ran, carried) = commit_batch(conn, batch, leading, &mut || {
                // Ingests that came while the batch runs: they join it and end it.
                while let Ok(item) = queue.try_recv() {
                    waiting.take(item);
                }
                let n = waiting.first.len().min(MAX_BATCH);
                waiting.first.drain(..n).collect()
            });
            for job in carried.into_iter().rev() {
                waiting.carried.push_front(job);
            }
            committed(conn, checkpoints, &mut self.load, started, ran, true);
        }
    }
}

/// What follows every batch's transaction, on the writer thread (`on_thread`) or a
/// caller's: the counts, the checkpoints' look at the WAL, the connection's load (the batch
/// `started` then, `ran` jobs).
fn committed(
    conn: &Conn<'_>,
    checkpoints: &mut Checkpoints,
    load: &mut Load,
    started: Instant,
    ran: usize,
    on_thread: bool,
) {
    metrics::counter!(crate::metrics::SQLITE_COMMITS).increment(1);
    metrics::counter!(crate::metrics::SQLITE_JOBS).increment(ran as u64);
    checkpoints.after_commit(conn, on_thread);
    load.note(started);
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(checkpoints) = self.checkpoints.take() {
            checkpoints.detach(self.connection);
        }
        // The statements go before their connection.
        self.conn = None;
        // SAFETY: `connection` is the `Box` leaked in `new`, given back once: nothing
        // borrows it any more (its statements are dropped above, its WAL hook is
        // detached, and jobs borrow it only while they run, holding the lock that `drop`'s
        // `&mut self` excludes).
        drop(unsafe { Box::from_raw(self.connection as *const Connection as *mut Connection) });
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inner")
    }
}
/// The writer thread: sleeps until a job comes (or the oldest rider is due), then runs
/// what waits, holding the connection meanwhile.
fn run(shared: &Mutex<Inner>, queue: Receiver<(Lane, Job)>, ride_wait: Duration) {
    let mut due: Option<Instant> = None;
    loop {
        let next = match due {
            None => queue.recv(),
            Some(due) => queue.recv_timeout(due.saturating_duration_since(Instant::now())),
        };
        let mut inner = shared.lock().unwrap_or_else(|e| e.into_inner());
        let closing = match next {
            Ok(item) => {
                inner.waiting.take(item);
                false
            }
            // The oldest rider waited long enough: `work` commits the riders alone.
            Err(RecvTimeoutError::Timeout) => false,
            // Shutting down: commit whatever still waits, then stop.
            Err(RecvTimeoutError::Disconnected) => true,
        };
        due = inner.work(&queue, ride_wait, closing);
        if closing {
            return;
        }
    }
}
#[cfg(test)]
mod tests;
