//! A batch's transaction: begin, run its jobs (ingests that come meanwhile cut it short),
//! commit or roll back, and answer every job.

use super::super::statements::Conn;
use super::job::{Job, Run};

/// Runs `batch` (whose first `leading` jobs are ingests) in one transaction and commits it;
/// returns how many jobs ran and the jobs it carried over. After each job but the last,
/// once the batch's own ingests have run (ingests keep their order), `ingests` hands over
/// the webhook ingests that came meanwhile: if there are any, they run next in this
/// transaction, which then commits, and the jobs not yet run are carried over to the next
/// batch. An ingest that comes while a long batch runs (a thousand model answers, a
/// broadcast page: 1–5 ms at 8–64 jobs) so waits for the job in progress, not for the rest
/// of the batch.
pub(super) fn commit_batch(
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
pub(super) fn begin(conn: &Conn<'_>) -> rusqlite::Result<usize> {
    conn.prepare_cached("begin immediate")?.execute([])
}

/// `commit_batch` once its transaction has begun.
pub(super) fn commit_begun(
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
