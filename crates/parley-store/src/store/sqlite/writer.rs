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

use super::checkpoint::Checkpoints;
use super::queue::{queue, Receiver, Sender};
use super::statements::Conn;
use crate::config::SqliteSynchronous;
use crate::store::{StoreError, StoreResult};
use rusqlite::Connection;
use std::collections::VecDeque;
use std::os::raw::c_int;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Jobs committed together at most. A batch this size takes a few milliseconds, which
/// bounds how long the first job of a batch waits for the last.
const MAX_BATCH: usize = 256;

/// How long a riding job waits for a commit to join before it is committed alone.
const RIDE_WAIT: Duration = Duration::from_millis(2);

/// Called once the batch's commit is known: `Ok` or the commit's error.
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
/// Runs on the connection as told, and says whether it failed (`Ran`).
type Job = Box<dyn for<'a, 'c> FnOnce(Run<'a, 'c>) -> Ran + Send>;

/// How a job runs.
enum Run<'a, 'c> {
    /// In a transaction it shares with other jobs: inside a savepoint of its own, so that
    /// a failure undoes only its own changes.
    Shared(&'a Conn<'c>),
    /// Alone in its transaction: no savepoint (its statements and the sub-journal's copy
    /// of every page it changes cost about 3 % of this thread); if it fails, the
    /// transaction is rolled back instead of committed.
    Alone(&'a Conn<'c>),
    /// Not at all: the batch could not begin; only report the error.
    Not,
}

/// A job that ran: its answer, to give once the commit is known, and whether it failed.
struct Ran {
    reply: Reply,
    failed: bool,
}

/// Whether a job goes before the others waiting (`Writer::run_first`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    First,
    InTurn,
    Riding,
    Read,
}

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
fn in_savepoint<T>(conn: &Conn<'_>, f: impl FnOnce(&Conn<'_>) -> StoreResult<T>) -> StoreResult<T> {
    conn.prepare_cached("savepoint job")?.execute([])?;
    let result = caught(conn, f);
    if conn.is_autocommit() {
        // SQLite rolled the whole transaction back (e.g. disk full): nothing of this batch
        // survives, which `run` detects after this job.
        return result;
    }
    if result.is_err() {
        conn.prepare_cached("rollback to job")?.execute([])?;
    }
    conn.prepare_cached("release job")?.execute([])?;
    result
}

/// Runs `f`, a panic in it reported as an error.
fn caught<T>(conn: &Conn<'_>, f: impl FnOnce(&Conn<'_>) -> StoreResult<T>) -> StoreResult<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| f(conn))) {
        Ok(result) => result,
        Err(_) => Err(StoreError::Corrupt("a database write panicked".into())),
    }
}

/// The jobs waiting for the writer thread, by lane.
#[derive(Default)]
struct Waiting {
    first: VecDeque<Job>,
    in_turn: VecDeque<Job>,
    reads: VecDeque<Job>,
    /// With the time each came: the oldest decides when riders go alone.
    riding: VecDeque<(Instant, Job)>,
    /// Jobs of a batch cut short for ingests (`commit_batch`), in their order: they go
    /// next, right after the ingests waiting then.
    carried: VecDeque<Job>,
}

impl Waiting {
    fn take(&mut self, (lane, job): (Lane, Job)) {
        match lane {
            Lane::First => self.first.push_back(job),
            Lane::InTurn => self.in_turn.push_back(job),
            Lane::Read => self.reads.push_back(job),
            Lane::Riding => self.riding.push_back((Instant::now(), job)),
        }
    }

    /// Whether a job is waiting that starts a commit.
    fn urgent(&self) -> bool {
        !self.first.is_empty() || !self.in_turn.is_empty() || !self.carried.is_empty()
    }

    /// Whether a job is waiting that runs at once: one that starts a commit, or a read.
    fn ready(&self) -> bool {
        self.urgent() || !self.reads.is_empty()
    }

    /// The next batch: ingests, then jobs carried from a batch cut short, then reads, then
    /// jobs in turn, then riders, `MAX_BATCH` at most; with how many of it are ingests.
    fn batch(&mut self) -> (Vec<Job>, usize) {
        let from_first = self.first.len().min(MAX_BATCH);
        let mut batch: Vec<Job> = self.first.drain(..from_first).collect();
        let carried = self.carried.len().min(MAX_BATCH - batch.len());
        batch.extend(self.carried.drain(..carried));
        let reads = self.reads.len().min(MAX_BATCH - batch.len());
        batch.extend(self.reads.drain(..reads));
        let from_turn = self.in_turn.len().min(MAX_BATCH - batch.len());
        batch.extend(self.in_turn.drain(..from_turn));
        let riders = self.riding.len().min(MAX_BATCH - batch.len());
        batch.extend(self.riding.drain(..riders).map(|(_, job)| job));
        (batch, from_first)
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
/// Opens the write connection on the VFS that writes a commit's WAL frames in one call
/// (`wal_vfs.rs`), or on SQLite's default one if that VFS could not be registered.
fn open_writing(path: &Path) -> StoreResult<Connection> {
    match super::wal_vfs::register() {
        Ok(vfs) => Ok(Connection::open_with_flags_and_vfs(
            path,
            rusqlite::OpenFlags::default(),
            vfs.to_str().expect("the VFS's name is ASCII"),
        )?),
        Err(e) => {
            tracing::warn!(error = %e, "writing the SQLite WAL page by page");
            Ok(Connection::open(path)?)
        }
    }
}

/// Slots of SQLite's lookaside memory on the writer's connection: its own pool for the
/// small allocations a statement makes each time it runs (cursors, value buffers, records).
/// SQLite's default (40 slots of 1,200 bytes, some split into 128-byte ones) is taken for
/// good by the programs of the writer's cached statements, and every other allocation went
/// to `malloc`: about 250 per webhook (BENCHMARKS.md, "Allocations"). 1.2 MB: room for 150
/// prepared statements and their runs (the test below; the store's SQLite code has about
/// 130, the hot path uses a few dozen, and 500 slots fit the benchmark but not those 150).
/// A writer that prepares more goes to `malloc` again for some runs, which is only slower.
const LOOKASIDE_SLOTS: c_int = 1_000;
const LOOKASIDE_SLOT_BYTES: c_int = 1_200;

/// Gives the writer's connection `LOOKASIDE_SLOTS` of lookaside memory. Must run before the
/// connection prepares anything; if SQLite refuses (lookaside in use), it keeps its default,
/// which is only slower.
fn more_lookaside(conn: &Connection) {
    // SAFETY: `SQLITE_DBCONFIG_LOOKASIDE` takes a buffer pointer (null: SQLite allocates
    // it), the slot size and the slot count, on a connection this thread owns and has not
    // used yet.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_db_config(
            conn.handle(),
            rusqlite::ffi::SQLITE_DBCONFIG_LOOKASIDE,
            std::ptr::null_mut::<std::os::raw::c_void>(),
            LOOKASIDE_SLOT_BYTES,
            LOOKASIDE_SLOTS,
        )
    };
    if rc != rusqlite::ffi::SQLITE_OK {
        tracing::debug!(rc, "SQLite kept its default lookaside memory");
    }
}

/// Sets `pragma synchronous` on a connection of the writer's (the checkpoints' fsyncs
/// follow it too).
pub(super) fn set_synchronous(conn: &Connection, sync: SqliteSynchronous) -> StoreResult<()> {
    conn.pragma_update(
        None,
        "synchronous",
        match sync {
            SqliteSynchronous::Normal => "normal",
            SqliteSynchronous::Full => "full",
        },
    )?;
    Ok(())
}

/// Runs `batch` (whose first `leading` jobs are ingests) in one transaction and commits it;
/// returns how many jobs ran and the jobs it carried over. After each job but the last,
/// once the batch's own ingests have run (ingests keep their order), `ingests` hands over
/// the webhook ingests that came meanwhile: if there are any, they run next in this
/// transaction, which then commits, and the jobs not yet run are carried over to the next
/// batch. An ingest that comes while a long batch runs (a thousand model answers, a
/// broadcast page: 1–5 ms at 8–64 jobs) so waits for the job in progress, not for the rest
/// of the batch.
fn commit_batch(
    conn: &Conn<'_>,
    batch: Vec<Job>,
    leading: usize,
    ingests: &mut dyn FnMut() -> Vec<Job>,
) -> (usize, Vec<Job>) {
    if let Err(e) = begin(conn) {
        tracing::error!(error = %e, "beginning a SQLite write transaction failed");
        let e = e.to_string();
        let ran = batch.len();
        for job in batch {
            (job(Run::Not).reply)(Err(e.clone()));
        }
        return (ran, Vec::new());
    }
    commit_begun(conn, batch, leading, ingests)
}

/// Begins a batch's write transaction.
fn begin(conn: &Conn<'_>) -> rusqlite::Result<usize> {
    conn.prepare_cached("begin immediate")?.execute([])
}

/// `commit_batch` once its transaction has begun.
fn commit_begun(
    conn: &Conn<'_>,
    batch: Vec<Job>,
    leading: usize,
    ingests: &mut dyn FnMut() -> Vec<Job>,
) -> (usize, Vec<Job>) {
    let alone = batch.len() == 1;
    let mut replies = Vec::with_capacity(batch.len());
    let mut carried = Vec::new();
    let mut aborted = false;
    let mut undo = false;
    let mut cut = false;
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        if aborted {
            replies.push(job(Run::Not).reply);
            continue;
        }
        let ran = job(if alone {
            Run::Alone(conn)
        } else {
            Run::Shared(conn)
        });
        replies.push(ran.reply);
        aborted = conn.is_autocommit();
        undo = alone && ran.failed;
        if !aborted && !cut && replies.len() >= leading && jobs.len() > 0 {
            let first = ingests();
            if !first.is_empty() {
                cut = true;
                carried = jobs.collect();
                jobs = first.into_iter();
            }
        }
    }
    let committed = if aborted {
        Err("SQLite rolled the write transaction back".to_string())
    } else if undo {
        // The one job failed: nothing of it may stay. Its answer is its own error.
        conn.prepare_cached("rollback")
            .and_then(|mut s| s.execute([]))
            .map(|_| ())
            .map_err(|e| e.to_string())
    } else {
        conn.prepare_cached("commit")
            .and_then(|mut s| s.execute([]))
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    if let Err(e) = &committed {
        // A full disk fails every commit: once per 30 s at most.
        crate::metrics::logs::log_every!(error, error = %e, "committing a SQLite write transaction failed");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("rollback");
        }
    }
    let ran = replies.len();
    for reply in replies {
        reply(committed.clone());
    }
    (ran, carried)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(dir: &tempfile::TempDir) -> Writer {
        writer_riding(dir, RIDE_WAIT)
    }

    fn writer_riding(dir: &tempfile::TempDir, ride_wait: Duration) -> Writer {
        writer_waiting(dir, ride_wait, Duration::from_secs(1))
    }

    fn writer_waiting(
        dir: &tempfile::TempDir,
        ride_wait: Duration,
        busy_timeout: Duration,
    ) -> Writer {
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("create table t (k integer primary key, v text not null)")
            .unwrap();
        drop(conn);
        let w =
            Writer::open_riding(&path, SqliteSynchronous::Normal, busy_timeout, ride_wait).unwrap();
        // Jobs run on their callers' threads whatever the load a slow test machine shows.
        w.shared.lock().unwrap().load.light_below = f64::INFINITY;
        w
    }

    /// `w` with every job run by its thread: for the tests that hold that thread inside a
    /// job, which on the caller's thread would hold the test itself.
    fn threaded(mut w: Writer) -> Writer {
        w.callers_run = false;
        w
    }

    /// The name of the thread a job runs on.
    fn thread_name() -> impl FnOnce(&Conn<'_>) -> StoreResult<String> + Send + 'static {
        |conn| {
            conn.execute("insert into t (v) values ('x')", [])?;
            Ok(this_thread())
        }
    }

    fn this_thread() -> String {
        std::thread::current().name().unwrap_or("").to_owned()
    }

    /// With the connection free and nothing waiting, a job runs on the caller's thread,
    /// committed before the call returns; with `synchronous = full` (commits wait for the
    /// disk) it goes to the writer thread.
    #[tokio::test]
    async fn a_job_for_a_free_writer_runs_on_its_callers_thread() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        let here = this_thread();
        assert_eq!(w.run_short(thread_name()).await.unwrap(), here);
        assert_eq!(w.run_first(thread_name()).await.unwrap(), here);
        assert_eq!(w.batches.load(Ordering::Relaxed), 2);
        assert_eq!(count(&dir, "select count(*) from t"), 2);
        // `run`'s jobs may be long: never on the caller's thread.
        assert_eq!(w.run(thread_name()).await.unwrap(), "sqlite-writer");
        assert_eq!(count(&dir, "select count(*) from t"), 3);

        let path = dir.path().join("w.db");
        let full = Writer::open(&path, SqliteSynchronous::Full, Duration::from_secs(1)).unwrap();
        assert_eq!(
            full.run_short(thread_name()).await.unwrap(),
            "sqlite-writer"
        );
        assert_eq!(count(&dir, "select count(*) from t"), 4);
    }

    /// Past the backstop the next commit may checkpoint on the writer's connection, which
    /// copies and syncs the file: a caller's job then goes to the writer thread.
    #[tokio::test]
    async fn a_job_past_the_backstop_goes_to_the_writer_thread() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        let here = this_thread();
        assert_eq!(w.run_short(thread_name()).await.unwrap(), here);
        w.wal
            .0
            .store(super::super::checkpoint::BACKSTOP, Ordering::Relaxed);
        assert_eq!(w.run_short(thread_name()).await.unwrap(), "sqlite-writer");
        // The thread answers before it lets go of the connection: wait for it to.
        drop(w.shared.lock().unwrap());
        assert_eq!(w.run_first(thread_name()).await.unwrap(), here);
        assert_eq!(count(&dir, "select count(*) from t"), 3);
    }

    /// While another caller's job holds the connection, a job goes to the writer thread,
    /// which runs it once the connection is free: callers never wait for each other.
    #[tokio::test]
    async fn a_job_while_another_runs_goes_to_the_writer_thread() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        let (started, running) = std::sync::mpsc::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = {
            let w = w.clone();
            std::thread::spawn(move || {
                futures::executor::block_on(w.run_short(move |conn| {
                    let _ = started.send(());
                    let _ = released.recv();
                    conn.execute("insert into t (v) values ('held')", [])?;
                    Ok(std::thread::current().id())
                }))
            })
        };
        running.recv().unwrap();
        let job = queued(w.run_short(thread_name()));
        release.send(()).unwrap();
        let holder_thread = holder.thread().id();
        assert_eq!(
            holder.join().unwrap().unwrap(),
            holder_thread,
            "ran where it was called"
        );
        assert_eq!(job.await.unwrap(), "sqlite-writer");
        assert_eq!(count(&dir, "select count(*) from t"), 2);
    }

    /// A caller never waits for another process's write lock: its job goes to the writer
    /// thread, which waits for the lock (up to the busy timeout) and then runs it.
    #[tokio::test]
    async fn a_job_does_not_wait_on_its_callers_thread_for_another_process() {
        let dir = tempfile::tempdir().unwrap();
        // A busy timeout far longer than a loaded test machine's stalls, so that a caller
        // that waited for the lock cannot pass for one that did not.
        let w = writer_waiting(&dir, RIDE_WAIT, Duration::from_secs(30));
        let other = Connection::open(dir.path().join("w.db")).unwrap();
        other.execute_batch("begin immediate").unwrap();
        let started = Instant::now();
        let job = queued(w.run_short(thread_name()));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the caller waited for the lock"
        );
        other.execute_batch("commit").unwrap();
        assert_eq!(job.await.unwrap(), "sqlite-writer");
        assert_eq!(count(&dir, "select count(*) from t"), 1);
    }

    /// The connection counts as lightly loaded while under a quarter of the latest whole
    /// window was spent in transactions, and again once a quiet window has passed.
    #[test]
    fn the_load_is_the_busy_share_of_the_latest_window() {
        let mut load = Load::new();
        assert!(load.light(), "a new connection is idle");
        let t0 = Instant::now();
        std::thread::sleep(LOAD_WINDOW / 2);
        load.note(t0 + LOAD_WINDOW / 20);
        assert!(load.light(), "the window is not over yet");
        load.since = Instant::now() - LOAD_WINDOW;
        load.busy = LOAD_WINDOW / 2;
        load.note(Instant::now());
        assert!(
            !load.light(),
            "half the window in transactions: {}",
            load.share
        );
        load.since = Instant::now() - 20 * LOAD_WINDOW;
        load.note(Instant::now());
        assert!(load.light(), "a quiet window: {}", load.share);
    }

    /// Under load, even a short job goes to the writer thread, where it shares a commit.
    #[tokio::test]
    async fn under_load_a_short_job_goes_to_the_writer_thread() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        {
            let mut inner = w.shared.lock().unwrap();
            inner.load.light_below = LIGHT_LOAD;
            inner.load.share = 0.9;
        }
        assert_eq!(w.run_short(thread_name()).await.unwrap(), "sqlite-writer");
        assert_eq!(w.run_first(thread_name()).await.unwrap(), "sqlite-writer");
    }

    fn insert(k: i64) -> impl FnOnce(&Conn<'_>) -> StoreResult<()> + Send + 'static {
        move |conn| {
            conn.execute("insert into t (k, v) values (?1, 'x')", [k])?;
            Ok(())
        }
    }

    /// A riding job does not start a commit: it waits, and the next job that does takes it
    /// along (here the wait is a minute, so only the second job can have committed it).
    #[tokio::test]
    async fn a_riding_job_joins_the_next_commit() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer_riding(&dir, Duration::from_secs(60));
        let started = Instant::now();
        let (rode, ran) = tokio::join!(w.run_riding(insert(1)), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            w.run(insert(2)).await
        });
        rode.unwrap();
        ran.unwrap();
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(count(&dir, "select count(*) from t"), 2);
        assert_eq!(w.batches.load(Ordering::Relaxed), 1, "one commit for both");
        // Left among the riders by its caller, it joins the next commit a caller makes.
        let (rode, ran) = tokio::join!(w.run_riding(insert(30)), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            w.run_short(thread_name()).await
        });
        rode.unwrap();
        assert_ne!(ran.unwrap(), "sqlite-writer", "committed by its caller");
        assert_eq!(count(&dir, "select count(*) from t"), 4);
        assert_eq!(w.batches.load(Ordering::Relaxed), 2, "one commit for both");
    }

    /// With nothing to ride along with, a riding job is committed alone once its wait is
    /// over (and not before).
    #[tokio::test]
    async fn a_riding_job_alone_is_committed_after_its_wait() {
        let dir = tempfile::tempdir().unwrap();
        let wait = Duration::from_millis(100);
        let w = writer_riding(&dir, wait);
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(30), w.run_riding(insert(7)))
            .await
            .expect("a lone rider is committed")
            .unwrap();
        assert!(started.elapsed() >= wait, "committed before its wait");
        assert_eq!(count(&dir, "select count(*) from t where k = 7"), 1);
        assert_eq!(w.batches.load(Ordering::Relaxed), 1);
    }

    /// The writer's statements stay prepared for good (`statements.rs`) and their programs hold
    /// lookaside slots: with SQLite's default pool they took all of it, and each run of a
    /// statement fell back to `malloc`. With the writer's pool, 150 cached statements run
    /// without a single allocation missing the pool for want of room.
    #[tokio::test]
    async fn cached_statements_leave_lookaside_room_for_their_runs() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        // 150 different statements, each `&'static` and cached as the hot path's are.
        let statements: Vec<&'static str> = (0..150)
            .map(|k| {
                &*Box::leak(
                    format!(
                        "insert into t (k, v) values (?1, 'statement {k}')
                         on conflict (k) do update set v = excluded.v || ?2"
                    )
                    .into_boxed_str(),
                )
            })
            .collect();
        let missed = w
            .run(move |conn| {
                for round in 0..3 {
                    for (k, sql) in statements.iter().enumerate() {
                        conn.prepare_cached(sql)?
                            .execute(rusqlite::params![k as i64, round])?;
                    }
                }
                assert_eq!(
                    conn.kept(),
                    150 + 1,
                    "the 150 and the batch's `begin immediate`"
                );
                let (mut now, mut most) = (0, 0);
                // SAFETY: reads a counter of the connection this job runs on.
                let rc = unsafe {
                    rusqlite::ffi::sqlite3_db_status(
                        conn.handle(),
                        rusqlite::ffi::SQLITE_DBSTATUS_LOOKASIDE_MISS_FULL,
                        &mut now,
                        &mut most,
                        0,
                    )
                };
                assert_eq!(rc, rusqlite::ffi::SQLITE_OK);
                Ok(most)
            })
            .await
            .unwrap();
        assert_eq!(missed, 0, "allocations that found the lookaside pool full");
        assert_eq!(count(&dir, "select count(*) from t"), 150);
    }

    /// A read that waits alone runs outside any write transaction: it sees what was
    /// committed, and no commit is made for it.
    #[tokio::test]
    async fn a_read_alone_runs_without_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        w.run(insert(3)).await.unwrap();
        assert_eq!(w.batches.load(Ordering::Relaxed), 1);
        let seen: i64 = w
            .read(
                |conn| Ok(conn.query_row("select count(*) from t where k = 3", [], |r| r.get(0))?),
            )
            .await
            .unwrap();
        assert_eq!(seen, 1);
        assert_eq!(
            w.batches.load(Ordering::Relaxed),
            1,
            "no commit for the read"
        );
        // The connection is out of the read's transaction: the next write commits as usual.
        w.run(insert(4)).await.unwrap();
        assert_eq!(count(&dir, "select count(*) from t"), 2);
        assert_eq!(w.batches.load(Ordering::Relaxed), 2);
    }

    /// The writer's connection never checkpoints in a commit: past `START` WAL pages the
    /// checkpoint thread copies them back, the writer copies what came meanwhile when idle,
    /// and the WAL starts over, so it does not keep what was copied however much is written.
    ///
    /// How far the WAL grows before it starts over depends on how long the thread's copy and
    /// its fsync take, which on a machine busy with other tests can be most of the run: the
    /// test checks that the WAL starts over, and that once the copies are done a commit finds
    /// it short again, not how many pages the writer appended during a slow copy.
    #[tokio::test]
    async fn the_wal_starts_over_with_checkpoints_off_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        let (frames, counts) = &w.wal;
        let insert_wide = |k: i64| {
            move |conn: &Conn<'_>| {
                conn.execute(
                    "insert into t (k, v) values (?1, ?2)",
                    rusqlite::params![k, "x".repeat(600)],
                )?;
                Ok(())
            }
        };
        let (mut restarts, mut before) = (0, 0);
        let mut k = 0;
        let mut note = |frames: u32| {
            if frames < before {
                restarts += 1;
            }
            before = frames;
        };
        // Each commit appends a page or two: several times `START` in all.
        let start = i64::from(super::super::checkpoint::START);
        while k < 4 * start {
            w.run_short(insert_wide(k)).await.unwrap();
            k += 1;
            note(frames.load(Ordering::Relaxed));
        }
        // On a loaded machine the thread's checkpoint may end after the last job: the
        // writer copies what came meanwhile at its next idle moment, after its next job,
        // and the commit after that starts the WAL over.
        let t0 = std::time::Instant::now();
        while (counts.catch_up.load(Ordering::Relaxed) == 0
            || i64::from(frames.load(Ordering::Relaxed)) >= start)
            && t0.elapsed() < Duration::from_secs(60)
        {
            w.run_short(insert_wide(k)).await.unwrap();
            k += 1;
            note(frames.load(Ordering::Relaxed));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(counts.thread.load(Ordering::Relaxed) >= 1, "{counts:?}");
        assert!(counts.catch_up.load(Ordering::Relaxed) >= 1, "{counts:?}");
        assert_eq!(counts.backstop.load(Ordering::Relaxed), 0, "{counts:?}");
        assert!(restarts >= 1, "the WAL never started over: {counts:?}");
        let last = frames.load(Ordering::Relaxed);
        assert!(
            i64::from(last) < start,
            "the WAL still holds {last} pages: {counts:?}"
        );
        // Each commit wrote its row's page and a few more, across the WAL's restarts.
        let pages = counts.pages.load(Ordering::Relaxed);
        assert!(
            (4 * start..40 * start).contains(&(pages as i64)),
            "{pages} pages counted"
        );
        assert_eq!(count(&dir, "select count(*) from t"), k);
    }

    fn count(dir: &tempfile::TempDir, sql: &str) -> i64 {
        Connection::open(dir.path().join("w.db"))
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    }

    /// Hundreds of concurrent jobs share commits; the ones that fail after writing leave
    /// nothing behind, and the others are all kept and answered only once durable.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_job_undoes_only_its_own_writes_in_a_shared_commit() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        let jobs = (0..600i64).map(|k| {
            let w = w.clone();
            tokio::spawn(async move {
                w.run(move |conn| {
                    conn.execute("insert into t (k, v) values (?1, 'x')", [k])?;
                    if k % 3 == 0 {
                        return Err(StoreError::NotFound {
                            what: "test",
                            id: k,
                        });
                    }
                    if k % 100 == 1 {
                        panic!("a job that panics after writing");
                    }
                    Ok(k)
                })
                .await
            })
        });
        let results = futures::future::join_all(jobs).await;
        let mut kept = 0;
        for (k, r) in results.into_iter().enumerate() {
            let k = k as i64;
            match r.unwrap() {
                Ok(v) => {
                    assert_eq!(v, k);
                    kept += 1;
                }
                Err(StoreError::NotFound { id, .. }) => assert_eq!(id, k),
                Err(StoreError::Corrupt(_)) => assert_eq!(k % 100, 1),
                Err(e) => panic!("job {k}: unexpected {e}"),
            }
        }
        assert_eq!(kept, 600 - 200 - 4);
        assert_eq!(count(&dir, "select count(*) from t"), kept);
        assert_eq!(count(&dir, "select count(*) from t where k % 3 = 0"), 0);
        let batches = w.batches.load(Ordering::Relaxed);
        assert!(
            batches < 600,
            "600 concurrent jobs took {batches} transactions: nothing was grouped"
        );
    }

    /// A job alone in its transaction runs without a savepoint: when it fails or panics
    /// after writing, the transaction is rolled back whole, nothing of it stays, and the
    /// writer goes on with the next job.
    #[tokio::test]
    async fn a_failing_job_alone_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        for k in 0..30i64 {
            // One at a time: each job is the only one of its batch.
            let before = w.batches.load(Ordering::Relaxed);
            let result = w
                .run(move |conn| {
                    conn.execute("insert into t (k, v) values (?1, 'x')", [k])?;
                    conn.execute("insert into t (k, v) values (?1, 'y')", [k + 1000])?;
                    match k % 3 {
                        0 => Err(StoreError::NotFound {
                            what: "test",
                            id: k,
                        }),
                        1 if k % 2 == 1 => panic!("a lone job that panics after writing"),
                        _ => Ok(k),
                    }
                })
                .await;
            assert_eq!(w.batches.load(Ordering::Relaxed), before + 1);
            match (k % 3, result) {
                (0, Err(StoreError::NotFound { id, .. })) => assert_eq!(id, k),
                (1, Err(StoreError::Corrupt(_))) if k % 2 == 1 => {}
                (_, Ok(v)) => assert_eq!(v, k),
                (_, other) => panic!("job {k}: unexpected {other:?}"),
            }
        }
        let kept: Vec<i64> = (0..30)
            .filter(|k| k % 3 == 2 || (k % 3 == 1 && k % 2 == 0))
            .collect();
        assert_eq!(count(&dir, "select count(*) from t"), 2 * kept.len() as i64);
        for k in kept {
            assert_eq!(
                count(
                    &dir,
                    &format!("select count(*) from t where k in ({k}, {})", k + 1000)
                ),
                2
            );
        }
        // The connection is still usable, outside any transaction.
        w.run(insert(5000)).await.unwrap();
        assert_eq!(count(&dir, "select count(*) from t where k = 5000"), 1);
    }

    /// An ingest queued behind more jobs than one batch holds is committed in the next
    /// batch, before them; the others keep their order.
    #[tokio::test]
    async fn an_ingest_goes_before_the_jobs_waiting_ahead_of_it() {
        use futures::FutureExt;
        let dir = tempfile::tempdir().unwrap();
        let w = threaded(writer(&dir));
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        // Holds the writer thread until released, so the jobs below all wait together.
        let (hold, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let gate = w.run(move |_| {
            let _ = started.send(());
            let _ = held.recv();
            Ok(())
        });
        let mut gate = Box::pin(gate);
        assert!((&mut gate).now_or_never().is_none(), "the gate is queued");
        // Its batch has begun, alone: everything below waits for the next ones.
        running.recv().unwrap();
        let jobs = MAX_BATCH as i64 * 3;
        // Polled once each, in order: queued now (nobody waits for their answers).
        for k in 0..jobs {
            let order = order.clone();
            let job = w.run(move |_| {
                order.lock().unwrap().push(k);
                Ok(())
            });
            assert!(job.now_or_never().is_none());
        }
        let ingest = {
            let order = order.clone();
            w.run_first(move |_| {
                order.lock().unwrap().push(-1);
                Ok(())
            })
        };
        let mut ingest = Box::pin(ingest);
        assert!((&mut ingest).now_or_never().is_none());
        hold.send(()).unwrap();
        gate.await.unwrap();
        ingest.await.unwrap();
        // The rest are answered in their turn; wait until the last ran.
        let t0 = std::time::Instant::now();
        while order.lock().unwrap().len() < jobs as usize + 1 {
            assert!(t0.elapsed() < Duration::from_secs(10), "the jobs ran");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order[0], -1, "the ingest went first");
        assert_eq!(order[1..].to_vec(), (0..jobs).collect::<Vec<_>>());
    }

    /// The names of the jobs in the order they ran.
    type Order = Arc<std::sync::Mutex<Vec<&'static str>>>;

    /// A job that notes `name` in `order`.
    fn noted(
        order: &Order,
        name: &'static str,
    ) -> impl FnOnce(&Conn<'_>) -> StoreResult<()> + Send + 'static {
        let order = order.clone();
        move |_| {
            order.lock().unwrap().push(name);
            Ok(())
        }
    }

    /// A job that says when it starts (the receiver), waits to be released (the sender),
    /// then notes `name` in `order`.
    fn held(
        order: &Order,
        name: &'static str,
    ) -> (
        impl FnOnce(&Conn<'_>) -> StoreResult<()> + Send + 'static,
        std::sync::mpsc::Receiver<()>,
        std::sync::mpsc::Sender<()>,
    ) {
        let (started, running) = std::sync::mpsc::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let note = noted(order, name);
        let job = move |conn: &Conn<'_>| {
            let _ = started.send(());
            let _ = released.recv();
            note(conn)
        };
        (job, running, release)
    }

    /// `job` boxed and polled once: queued with the writer, not yet answered.
    fn queued<F: std::future::Future>(job: F) -> std::pin::Pin<Box<F>> {
        use futures::FutureExt;
        let mut job = Box::pin(job);
        assert!(
            (&mut job).now_or_never().is_none(),
            "answered before it ran"
        );
        job
    }

    /// Holds the writer's thread with a job noted `gate` until the sender is used: jobs
    /// queued meanwhile wait together for the next batch. Await the future after releasing.
    fn hold_writer<'w>(
        w: &'w Writer,
        order: &Order,
    ) -> (
        std::pin::Pin<Box<impl std::future::Future<Output = StoreResult<()>> + 'w>>,
        std::sync::mpsc::Sender<()>,
    ) {
        let (gate, gate_running, gate_release) = held(order, "gate");
        let gate = queued(w.run(gate));
        gate_running.recv().unwrap();
        (gate, gate_release)
    }

    /// An ingest that comes while a batch runs joins it after the job in progress, and the
    /// batch commits right after it: the jobs not yet run wait for the next commit, in
    /// their order. Here the job after the one in progress blocks until the end, so the
    /// ingest is answered only if it did not wait for it.
    #[tokio::test]
    async fn an_ingest_that_comes_during_a_batch_ends_it() {
        let dir = tempfile::tempdir().unwrap();
        let w = threaded(writer(&dir));
        let order = Order::default();
        let (gate, gate_release) = hold_writer(&w, &order);
        // Queued while the gate holds the thread: the next batch is a, b, c.
        let (a, a_running, a_release) = held(&order, "a");
        let (b, _b_running, b_release) = held(&order, "b");
        let a = queued(w.run(a));
        let b = queued(w.run(b));
        let c = queued(w.run(noted(&order, "c")));
        gate_release.send(()).unwrap();
        gate.await.unwrap();
        a_running.recv().unwrap();
        let mut ingest = queued(w.run_first(noted(&order, "ingest")));
        a_release.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), &mut ingest)
            .await
            .expect("the ingest is committed while b still runs")
            .unwrap();
        a.await.unwrap();
        b_release.send(()).unwrap();
        b.await.unwrap();
        c.await.unwrap();
        assert_eq!(
            order.lock().unwrap().clone(),
            ["gate", "a", "ingest", "b", "c"]
        );
    }

    /// Ingests keep their order: one that comes while a batch runs goes after the batch's
    /// own ingests, not between them.
    #[tokio::test]
    async fn an_ingest_that_comes_during_a_batch_goes_after_its_ingests() {
        let dir = tempfile::tempdir().unwrap();
        let w = threaded(writer(&dir));
        let order = Order::default();
        let (gate, gate_release) = hold_writer(&w, &order);
        // The next batch: first (which lets the third in while it runs), second, a job.
        let (first, first_running, first_release) = held(&order, "first");
        let first = queued(w.run_first(first));
        let second = queued(w.run_first(noted(&order, "second")));
        let job = queued(w.run(noted(&order, "job")));
        gate_release.send(()).unwrap();
        gate.await.unwrap();
        first_running.recv().unwrap();
        let third = queued(w.run_first(noted(&order, "third")));
        first_release.send(()).unwrap();
        first.await.unwrap();
        second.await.unwrap();
        third.await.unwrap();
        job.await.unwrap();
        assert_eq!(
            order.lock().unwrap().clone(),
            ["gate", "first", "second", "third", "job"]
        );
    }

    #[tokio::test]
    async fn a_batch_that_cannot_commit_reports_every_job_as_failed() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        // Another connection holds the write lock longer than the busy timeout.
        let blocker = Connection::open(dir.path().join("w.db")).unwrap();
        blocker.execute_batch("begin immediate").unwrap();
        let r = w
            .run(|conn| {
                conn.execute("insert into t (k, v) values (1, 'x')", [])?;
                Ok(())
            })
            .await;
        assert!(matches!(r, Err(StoreError::Commit(_))), "{r:?}");
        blocker.execute_batch("rollback").unwrap();
        assert_eq!(count(&dir, "select count(*) from t"), 0);
        // The writer carries on once the lock is free.
        w.run(|conn| {
            conn.execute("insert into t (k, v) values (2, 'y')", [])?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(count(&dir, "select count(*) from t"), 1);
    }
}
