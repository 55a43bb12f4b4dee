//! A job of the writer's: a closure over the connection, how it runs (alone or in a
//! savepoint of a shared transaction) and the answer it gives once the commit is known.

use super::super::statements::Conn;
use crate::store::{StoreError, StoreResult};
use std::panic::AssertUnwindSafe;

/// Called once the batch's commit is known: `Ok` or the commit's error.
pub(super) type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
/// Runs on the connection as told, and says whether it failed (`Ran`).
pub(super) type Job = Box<dyn for<'a, 'c> FnOnce(Run<'a, 'c>) -> Ran + Send>;

/// How a job runs.
pub(super) enum Run<'a, 'c> {
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
pub(super) struct Ran {
    pub(super) reply: Reply,
    pub(super) failed: bool,
}

/// Whether a job goes before the others waiting (`Writer::run_first`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lane {
    First,
    InTurn,
    Riding,
    Read,
}

/// Runs `f` in a savepoint of its own: a failure undoes only its own changes.
pub(super) fn in_savepoint<T>(
    conn: &Conn<'_>,
    f: impl FnOnce(&Conn<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
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
pub(super) fn caught<T>(
    conn: &Conn<'_>,
    f: impl FnOnce(&Conn<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| f(conn))) {
        Ok(result) => result,
        Err(_) => Err(StoreError::Corrupt("a database write panicked".into())),
    }
}
