//! How Parley schedules its own threads.

use std::time::Duration;

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

/// The slice asked for by `short_slices`: the shortest Linux grants.
pub const SHORT_SLICE: Duration = Duration::from_micros(100);

/// Asks Linux's scheduler for short time slices (`SHORT_SLICE` instead of the default ~3
/// ms) on the calling thread; run by the HTTP thread as it starts. The thread's share of
/// the CPU does not change (same weight); what changes is how soon it runs when it wakes.
/// Under the EEVDF scheduler (Linux 6.12 and later) a waking thread with a shorter slice
/// has an earlier deadline and preempts the thread running, so a webhook that arrives while
/// the workers and the writer keep the core busy is read and acknowledged at once rather
/// than after their slice. With 1,000 conversations waiting on a 2 s model, the ack p99
/// fell from a median of 4.9 to 3.2 ms over six runs each, with no change in CPU or
/// capacity (BENCHMARKS.md, "Short slices for the HTTP thread"). Any user may ask this for
/// its own threads; older kernels take the request and ignore it. The thread's policy and
/// nice value stay as they were (an operator's `nice parley serve` holds). Returns whether
/// the kernel reports the slice as set.
pub fn short_slices() -> bool {
    #[cfg(target_os = "linux")]
    {
        let nanos = SHORT_SLICE.as_nanos() as u64;
        let Some(mut attr) = attr_now() else {
            return false;
        };
        attr.size = std::mem::size_of::<SchedAttr>() as u32;
        attr.flags = 0;
        attr.runtime = nanos;
        // SAFETY: `attr` is a `struct sched_attr` (its first version, whose size it
        // states) that lives across the call; pid 0 is the calling thread; flags 0.
        let set =
            unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
        if set != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "the HTTP thread keeps the default time slice");
            return false;
        }
        attr_now().map(|a| a.runtime) == Some(nanos)
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// The calling thread's scheduling attributes, as the kernel reports them (`runtime` is its
/// time slice in nanoseconds).
#[cfg(target_os = "linux")]
fn attr_now() -> Option<SchedAttr> {
    let mut attr = SchedAttr::default();
    // SAFETY: the kernel writes at most the size given (`attr`'s own) into `attr`; pid 0
    // is the calling thread; flags 0.
    let got = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut attr as *mut SchedAttr,
            std::mem::size_of::<SchedAttr>() as u32,
            0,
        )
    };
    (got == 0).then_some(attr)
}

/// Linux's `struct sched_attr`, first version (`SCHED_ATTR_SIZE_VER0`, 48 bytes).
#[cfg(target_os = "linux")]
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// (major, minor) of the running kernel.
    fn kernel() -> (u32, u32) {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut parts = release.trim().split(['.', '-']);
        let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        (major, minor)
    }

    /// On a kernel with custom slices (6.12 and later) the thread gets its short slice, and
    /// only that thread: another thread of the process keeps the default. Its nice value
    /// stays what it was.
    #[test]
    fn a_thread_asking_for_short_slices_gets_them_alone() {
        let (applied, nice, wanted) = std::thread::spawn(|| {
            let before = super::attr_now().expect("sched_getattr").nice;
            let wanted = (before + 1).min(19);
            // SAFETY: raises the calling thread's own nice value, which any user may.
            unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::setpriority(libc::PRIO_PROCESS, tid, wanted);
            }
            let applied = super::short_slices();
            (applied, super::attr_now().map(|a| a.nice), wanted)
        })
        .join()
        .unwrap();
        assert_eq!(nice, Some(wanted), "the thread's nice value was kept");
        if kernel() >= (6, 12) {
            assert!(applied, "kernel {:?} did not set the slice", kernel());
            let other = std::thread::spawn(|| super::attr_now().map(|a| a.runtime))
                .join()
                .unwrap();
            assert!(other.is_some());
            assert_ne!(other, Some(super::SHORT_SLICE.as_nanos() as u64));
        } else {
            eprintln!("kernel {:?} has no custom slices: only checked that asking does not fail the thread", kernel());
        }
    }
}
