//! `--pin`: the load generator on one CPU and the server under test on another, so neither
//! takes the other's time and "CPU per message" is the server's alone. Linux only
//! (`sched_setaffinity`); elsewhere `--pin` is refused.

/// The CPU of the generator (and, on PostgreSQL, of the database server).
pub const GENERATOR_CPU: usize = 0;
/// The CPU of Parley or of the baseline server.
pub const SUBJECT_CPU: usize = 1;

/// Pins process (or thread) `pid` — 0 for the calling thread — to `cpu`. Threads created
/// afterwards inherit it.
pub fn pin(pid: i32, cpu: usize) -> std::io::Result<()> {
    // SAFETY: `set` is a plain bit set, zeroed, then one bit set within its size; the call
    // only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Pins every thread of process `pid` to `cpu` (for a server that is already running, like
/// PostgreSQL's processes).
pub fn pin_all_threads(pid: u32, cpu: usize) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for task in tasks.flatten() {
        if let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) {
            let _ = pin(tid, cpu);
        }
    }
}

/// `--pin` needs two CPUs.
pub fn check() -> anyhow::Result<()> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    anyhow::ensure!(cpus >= 2, "--pin needs two CPUs; this machine has {cpus}");
    Ok(())
}

/// Makes a child process start pinned to `cpu`.
pub fn pin_child(command: &mut tokio::process::Command, cpu: usize) {
    // SAFETY: the closure runs in the child between fork and exec and only calls
    // `sched_setaffinity`, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || pin(0, cpu));
    }
}
