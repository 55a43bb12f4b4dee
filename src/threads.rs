//! How Parley schedules its own threads.

/// Puts the calling thread under Linux's `SCHED_BATCH` policy (elsewhere it does nothing);
/// run by each thread of the workers' runtime as it starts, and by SQLite's checkpoint
/// thread (`store/sqlite/checkpoint.rs`). A batch thread keeps its
/// share of the CPU (same weight, never starved) but does not preempt the thread that is
/// running when it wakes, so on a saturated core a model answer or a step coming back does
/// not cut into a webhook's acknowledgement on the HTTP thread and the SQLite writer.
/// With 1,000 conversations waiting on a model, the ack p50 halved (BENCHMARKS.md,
/// "Workers as batch threads"). Any user may choose this policy for its own threads, so
/// it cannot fail for want of a privilege; if it fails anyway, the thread runs as before.
pub fn batch_scheduling() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` lives across the call, which only reads it; pid 0 is the
        // calling thread.
        let failed = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } != 0;
        if failed {
            tracing::debug!(error = %std::io::Error::last_os_error(), "a thread stays under the default scheduling policy");
        }
    }
}
