//! Checkpoints off the writer's path.
//!
//! A checkpoint copies the pages committed to the WAL back into the database file so that
//! the WAL can start over. SQLite runs one inside the commit that takes the WAL past 1,000
//! pages, on the committing connection: here the writer thread, so every job of that batch
//! (webhook ingests whose acknowledgement waits for the commit) and every job queued behind
//! it waited for the copy. With agents at work that was the acknowledgement's tail: batches
//! of one ingest taking 3-4 ms instead of 0.1 (BENCHMARKS.md, issue 17).
//!
//! Here the writer's connection never checkpoints on its own (its WAL hook only counts the
//! WAL's pages). Past `START` pages it asks a thread of its own (`sqlite-checkpoint`, its
//! own connection, scheduled as a batch thread so a waking writer preempts it) for a passive
//! checkpoint, which copies while the writer goes on committing. The WAL can only start over
//! when a write begins with every page of it copied, and the writer kept appending during
//! the copy, so once that checkpoint is done the writer copies the few pages it appended
//! meanwhile itself, when no job waits for it (`when_idle`); its next commit starts the WAL
//! over. Should the thread be stalled or gone, the writer checkpoints itself past
//! `BACKSTOP` pages, as SQLite would have.

use crate::config::SqliteSynchronous;
use crate::store::{StoreError, StoreResult};
use rusqlite::Connection;
use std::os::raw::{c_char, c_int, c_void};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// WAL pages at which a checkpoint is asked for (about 8 MB with 1 KiB pages). SQLite's
/// own default is 1,000: with a message writing ~33 pages, that was a checkpoint, two
/// `fsync`s and a catch-up copy on the writer every 30 messages, 9 % of Parley's CPU at
/// 1,000/s. At 8,000 they are an eighth as many and each copies a page rewritten by
/// many commits once (BENCHMARKS.md, "Checkpoints every 8 MB").
pub(super) const START: u32 = 8_000;

/// WAL pages at which the writer checkpoints itself (about 40 MB with 1 KiB pages).
pub(super) const BACKSTOP: u32 = 40_000;

/// How long the thread's checkpoint may take before the writer, past `BACKSTOP`, no longer
/// waits for it.
const STALLED: Duration = Duration::from_secs(10);

/// What the writer thread knows of its WAL and of the checkpoint thread.
pub(super) struct Checkpoints {
    /// Pages in the WAL after the latest commit, set by the connection's WAL hook.
    pub(super) frames: Arc<AtomicU32>,
    ask: mpsc::SyncSender<()>,
    /// Set by the checkpoint thread when the checkpoint asked for is done.
    done: Arc<AtomicBool>,
    in_flight: bool,
    asked_at: Instant,
    /// The thread's checkpoint is done: the writer copies what came after it.
    catch_up: bool,
    /// `frames` after the previous commit.
    seen: u32,
    /// Checkpoints run: by the thread, by the writer catching up, by the writer as backstop.
    pub(super) counts: Arc<Counts>,
}

#[derive(Debug, Default)]
pub(super) struct Counts {
    pub(super) thread: AtomicU64,
    pub(super) catch_up: AtomicU64,
    pub(super) backstop: AtomicU64,
    /// Pages the commits wrote to the WAL (`parley_sqlite_wal_pages_total`).
    pub(super) pages: AtomicU64,
}

impl Checkpoints {
    /// Installs the WAL hook on the writer's `conn` (which ends SQLite's automatic
    /// checkpoints on it) and starts the checkpoint thread on a connection of its own.
    pub(super) fn start(
        conn: &Connection,
        path: &Path,
        sync: SqliteSynchronous,
        busy_timeout: Duration,
    ) -> StoreResult<Self> {
        let checkpointer = Connection::open(path)?;
        checkpointer.busy_timeout(busy_timeout)?;
        super::connection::set_synchronous(&checkpointer, sync)?;
        let (ask, asked) = mpsc::sync_channel::<()>(1);
        let done = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let (thread_done, thread_counts) = (done.clone(), counts.clone());
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                crate::threads::batch_scheduling();
                // Ends when the writer thread (holding `ask`) ends.
                while asked.recv().is_ok() {
                    if let Err(e) = passive(&checkpointer) {
                        crate::metrics::logs::log_every!(warn, error = %e, "a SQLite checkpoint failed; the writer will take it over");
                    }
                    thread_counts.thread.fetch_add(1, Ordering::Relaxed);
                    thread_done.store(true, Ordering::Release);
                }
            })
            .map_err(|e| {
                StoreError::Corrupt(format!("cannot start the SQLite checkpoint thread: {e}"))
            })?;
        // Last, once nothing here can fail any more.
        let frames = Arc::new(AtomicU32::new(0));
        // SAFETY: the hook's argument is the `AtomicU32` inside `frames`, which `Checkpoints`
        // keeps alive; `detach` removes the hook before that `Arc` can go (the connection,
        // owned by the same writer thread, only calls it while committing).
        unsafe {
            rusqlite::ffi::sqlite3_wal_hook(
                conn.handle(),
                Some(count_frames),
                Arc::as_ptr(&frames) as *mut c_void,
            );
        }
        Ok(Self {
            frames,
            ask,
            asked_at: Instant::now(),
            done,
            in_flight: false,
            catch_up: false,
            seen: 0,
            counts,
        })
    }

    /// After each commit: asks for a checkpoint past `START` pages, and checkpoints on the
    /// writer's own connection past `BACKSTOP` when the commit was the writer thread's
    /// (`on_thread`). A caller's thread never copies or waits for the disk: past
    /// `BACKSTOP` its jobs go to the writer thread (`past_backstop`), whose next commit
    /// checkpoints.
    pub(super) fn after_commit(&mut self, conn: &Connection, on_thread: bool) {
        self.collect();
        let frames = self.frames.load(Ordering::Relaxed);
        // Fewer pages than after the last commit: the WAL started over with this one. (A
        // first commit after a restart larger than the whole WAL before it is undercounted;
        // the WAL restarts only past `START` pages.)
        let written = frames.checked_sub(self.seen).unwrap_or(frames);
        self.seen = frames;
        self.counts
            .pages
            .fetch_add(u64::from(written), Ordering::Relaxed);
        metrics::counter!(crate::metrics::SQLITE_WAL_PAGES).increment(u64::from(written));
        // While the thread copies, the WAL may grow past the backstop on a slow disk; the
        // writer steps in only if the thread has taken longer than `STALLED`.
        if frames >= BACKSTOP && (!self.in_flight || self.asked_at.elapsed() > STALLED) {
            if !on_thread {
                return;
            }
            if let Err(e) = passive(conn) {
                tracing::warn!(error = %e, wal_pages = frames, "a SQLite checkpoint failed");
            }
            self.counts.backstop.fetch_add(1, Ordering::Relaxed);
            self.catch_up = false;
        } else if frames >= START && !self.in_flight && !self.catch_up {
            // A full channel means a request is already waiting: nothing to add.
            let _ = self.ask.try_send(());
            self.in_flight = true;
            self.asked_at = Instant::now();
        }
    }

    /// When no job waits: copies what was committed during the thread's checkpoint, so the
    /// next commit starts the WAL over.
    pub(super) fn when_idle(&mut self, conn: &Connection) {
        self.collect();
        if self.catch_up {
            self.catch_up = false;
            if let Err(e) = passive(conn) {
                crate::metrics::logs::log_every!(error, error = %e, "a SQLite checkpoint failed");
            }
            self.counts.catch_up.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether the WAL is past `BACKSTOP`: the writer thread's next commit may checkpoint.
    pub(super) fn past_backstop(&self) -> bool {
        self.frames.load(Ordering::Relaxed) >= BACKSTOP
    }

    /// Whether `when_idle` has a copy to make: a caller that committed on its own thread
    /// then wakes the writer thread for it.
    pub(super) fn waits_for_idle(&mut self) -> bool {
        self.collect();
        self.catch_up
    }

    fn collect(&mut self) {
        if self.in_flight && self.done.swap(false, Ordering::Acquire) {
            self.in_flight = false;
            self.catch_up = true;
        }
    }

    /// Takes the WAL hook off `conn` (the one `start` was given) before `self` goes, with
    /// the counter the hook writes to.
    pub(super) fn detach(self, conn: &Connection) {
        // SAFETY: replaces this hook by none on the connection it was installed on.
        unsafe {
            rusqlite::ffi::sqlite3_wal_hook(conn.handle(), None, std::ptr::null_mut());
        }
    }
}

/// Runs a passive checkpoint: copies what it can without waiting for anyone.
fn passive(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("pragma wal_checkpoint(passive)", [], |_| Ok(()))
}

/// The WAL hook: SQLite calls it after each commit with the WAL's size in pages.
unsafe extern "C" fn count_frames(
    frames: *mut c_void,
    _db: *mut rusqlite::ffi::sqlite3,
    _schema: *const c_char,
    pages: c_int,
) -> c_int {
    // SAFETY: `frames` is the `AtomicU32` that `Checkpoints::start` registered and keeps
    // alive while the hook is installed.
    let frames = unsafe { &*(frames as *const AtomicU32) };
    frames.store(u32::try_from(pages).unwrap_or(0), Ordering::Relaxed);
    rusqlite::ffi::SQLITE_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past `BACKSTOP`, only the writer thread's commit checkpoints on the writer's
    /// connection: a commit on a caller's thread leaves it to the thread's next one.
    #[test]
    fn only_the_writer_threads_commit_runs_the_backstop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("pragma journal_mode = wal; create table t (v integer)")
            .unwrap();
        let mut checkpoints = Checkpoints::start(
            &conn,
            &path,
            SqliteSynchronous::Normal,
            Duration::from_secs(1),
        )
        .unwrap();
        conn.execute("insert into t values (1)", []).unwrap();
        // As the WAL hook leaves it after a commit that took the WAL past the backstop.
        checkpoints.frames.store(BACKSTOP, Ordering::Relaxed);
        assert!(checkpoints.past_backstop());

        checkpoints.after_commit(&conn, false);
        assert_eq!(checkpoints.counts.backstop.load(Ordering::Relaxed), 0);
        checkpoints.after_commit(&conn, true);
        assert_eq!(checkpoints.counts.backstop.load(Ordering::Relaxed), 1);
        checkpoints.detach(&conn);
    }
}
