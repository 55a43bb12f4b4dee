//! Resource figures from `/proc`: Parley's resident memory (`VmRSS`, and the kernel's own
//! high-water mark `VmHWM`) and CPU time (`utime + stime`), the benchmark's own CPU time
//! (it shares the machine), the whole machine's busy time, and snapshots of Parley's
//! threads and of the `postgres` processes around the send phase. Sampled every 200 ms.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const EVERY: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Tracker nanoseconds.
    pub at: u64,
    /// Parley's CPU time (user + system), in clock ticks.
    pub parley_ticks: u64,
    pub rss_kb: u64,
    pub hwm_kb: u64,
    pub bench_ticks: u64,
    /// Busy time of the whole machine (all CPUs, from `/proc/stat`), so the load of other
    /// programs running at the same time shows.
    pub machine_ticks: u64,
}

pub struct Sampler {
    pub samples: Arc<Mutex<Vec<Sample>>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn spawn(pid: u32, now_ns: impl Fn() -> u64 + Send + 'static) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let (samples, stop) = (samples.clone(), stop.clone());
            async move {
                loop {
                    if let Some(s) = sample(pid, now_ns()) {
                        samples.lock().unwrap().push(s);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(EVERY) => {}
                        _ = stop.cancelled() => return,
                    }
                }
            }
        });
        Self {
            samples,
            stop,
            task,
        }
    }

    /// Takes a last sample and returns them all.
    pub async fn finish(self, pid: u32, now: u64) -> Vec<Sample> {
        self.stop.cancel();
        let _ = self.task.await;
        let mut samples = std::mem::take(&mut *self.samples.lock().unwrap());
        if let Some(s) = sample(pid, now) {
            samples.push(s);
        }
        samples
    }
}

fn sample(pid: u32, at: u64) -> Option<Sample> {
    let parley_ticks = cpu_ticks(&format!("/proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(Sample {
        at,
        parley_ticks,
        rss_kb: status_kb(&status, "VmRSS:"),
        hwm_kb: status_kb(&status, "VmHWM:"),
        bench_ticks: cpu_ticks("/proc/self/stat").unwrap_or(0),
        machine_ticks: machine_busy_ticks().unwrap_or(0),
    })
}

/// `utime + stime` (fields 14 and 15; counted after the parenthesised command name, which
/// may itself hold spaces).
fn cpu_ticks(stat_path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    let (_, after) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// All CPUs' busy time: the `cpu` line of `/proc/stat` without idle and iowait.
fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    Some(v.iter().take(8).sum::<u64>() - v.get(3)? - v.get(4)?)
}

fn status_kb(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time of every process with this name: `(pid, ticks)`.
pub fn processes_named(name: &str) -> Vec<(u32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_string_lossy().parse().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            (comm.trim() == name).then_some(())?;
            Some((pid, cpu_ticks(&e.path().join("stat").to_string_lossy())?))
        })
        .collect()
}

/// CPU used between two `processes_named` snapshots as % of one core over `secs`;
/// processes started in between count whole, those that ended in between are missed.
pub fn processes_pct(before: &[(u32, u64)], after: &[(u32, u64)], secs: f64) -> f64 {
    let ticks: u64 = after
        .iter()
        .map(|(pid, t)| {
            let start = before.iter().find(|(p, _)| p == pid).map_or(0, |(_, t)| *t);
            t.saturating_sub(start)
        })
        .sum();
    ticks as f64 / ticks_per_second() / secs.max(1e-9) * 100.0
}

/// CPU time of each of Parley's threads: `(tid, name, ticks)`. Two of these around the send
/// phase show whether one thread (say, the single SQLite writer) is the ceiling.
pub fn threads(pid: u32) -> Vec<(u32, String, u64)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| {
            let tid = e.file_name().to_string_lossy().parse().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            let ticks = cpu_ticks(&e.path().join("stat").to_string_lossy())?;
            Some((tid, comm.trim().to_string(), ticks))
        })
        .collect()
}

/// Context switches of all of Parley's threads so far (voluntary: a thread waited for
/// work, a lock or I/O; involuntary: it was preempted). Two of these around the send phase
/// count the wake-ups per message. Threads that ended in between are missed.
pub fn context_switches(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
        .map(|status| switches_in(&status))
        .sum()
}

/// `voluntary_ctxt_switches` + `nonvoluntary_ctxt_switches` of a `/proc/…/status` text.
fn switches_in(status: &str) -> u64 {
    status
        .lines()
        .filter_map(|l| {
            let (key, value) = l.split_once(':')?;
            matches!(
                key,
                "voluntary_ctxt_switches" | "nonvoluntary_ctxt_switches"
            )
            .then(|| value.trim().parse::<u64>().ok())?
        })
        .sum()
}

/// The busiest threads between two `threads` snapshots taken `secs` apart, as
/// `(name, % of one core)`, busiest first.
pub fn busiest_threads(
    before: &[(u32, String, u64)],
    after: &[(u32, String, u64)],
    secs: f64,
    top: usize,
) -> Vec<(String, f64)> {
    let hz = ticks_per_second();
    let mut busy: Vec<(String, f64)> = after
        .iter()
        .map(|(tid, name, ticks)| {
            let start = before
                .iter()
                .find(|(t, _, _)| t == tid)
                .map_or(0, |(_, _, t)| *t);
            let pct = ticks.saturating_sub(start) as f64 / hz / secs.max(1e-9) * 100.0;
            (format!("{name}/{tid}"), (pct * 10.0).round() / 10.0)
        })
        .collect();
    busy.sort_by(|a, b| b.1.total_cmp(&a.1));
    busy.truncate(top);
    busy
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when it cannot be asked).
pub fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU use between two samples as a percentage of one core.
pub fn cpu_pct(ticks: u64, from: &Sample, to: &Sample, hz: f64) -> f64 {
    let secs = (to.at.saturating_sub(from.at)) as f64 / 1e9;
    if secs <= 0.0 {
        return 0.0;
    }
    ticks as f64 / hz / secs * 100.0
}

/// The busiest window of at least `window` between samples, as a percentage of one core.
pub fn peak_pct(
    samples: &[Sample],
    ticks: impl Fn(&Sample) -> u64,
    window: Duration,
    hz: f64,
) -> f64 {
    let w = window.as_nanos() as u64;
    let mut best: f64 = 0.0;
    let mut j = 0;
    for (i, from) in samples.iter().enumerate() {
        j = j.max(i);
        while j < samples.len() && samples[j].at - from.at < w {
            j += 1;
        }
        let Some(to) = samples.get(j) else { break };
        best = best.max(cpu_pct(ticks(to).saturating_sub(ticks(from)), from, to, hz));
    }
    best
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_both_kinds_of_context_switch() {
        let status =
            "Name:\tparley-http\nvoluntary_ctxt_switches:\t1200\nnonvoluntary_ctxt_switches:\t34\n";
        assert_eq!(super::switches_in(status), 1234);
        assert_eq!(super::switches_in("Name:\tx\n"), 0);
        // This process's own threads have switched at least once by now.
        assert!(super::context_switches(std::process::id()) > 0);
    }

    #[test]
    fn reads_kilobytes_from_proc_status() {
        let status = "Name:\tparley\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n";
        assert_eq!(super::status_kb(status, "VmHWM:"), 51200);
        assert_eq!(super::status_kb(status, "VmRSS:"), 40960);
    }

    #[test]
    fn reads_cpu_ticks_of_this_process() {
        assert!(super::cpu_ticks("/proc/self/stat").is_some());
    }
}
