//! Who holds a lease: an identity a later process on the same machine can prove dead.
//!
//! A lease owner is written `parley:{host}:{boot}:{pid}:{start}:{nonce}`: the host name, the
//! kernel's boot id, the process id and its start time (clock ticks since boot, from
//! `/proc/self/stat`). A process that starts on the same host looks at the owners of live
//! leases and takes over those whose process is provably gone: the machine rebooted since
//! (another boot id), or no process has that pid, or one does but started at another time
//! (the pid was reused). Anything it cannot prove — another host, an owner written in
//! another form, no `/proc` — keeps its lease until it runs out, as before.

use crate::store::DynStore;

const PREFIX: &str = "parley:";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerId {
    pub host: String,
    pub boot: String,
    pub pid: u32,
    pub start: u64,
    pub nonce: String,
}

impl OwnerId {
    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self {
            host: crate::store::hostname().replace(':', "_"),
            boot: boot_id().unwrap_or_default(),
            pid,
            start: start_ticks(pid).unwrap_or(0),
            nonce: uuid::Uuid::new_v4().simple().to_string()[..8].to_string(),
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.strip_prefix(PREFIX)?.split(':');
        let id = Self {
            host: parts.next()?.to_string(),
            boot: parts.next()?.to_string(),
            pid: parts.next()?.parse().ok()?,
            start: parts.next()?.parse().ok()?,
            nonce: parts.next()?.to_string(),
        };
        parts.next().is_none().then_some(id)
    }

    /// True only when `self` is provably not running, as seen from `me` (same host).
    pub fn is_dead(&self, me: &OwnerId, proc_stat: impl Fn(u32) -> Option<u64>) -> bool {
        if self.host != me.host || self.boot.is_empty() || me.boot.is_empty() || self == me {
            return false;
        }
        if self.boot != me.boot {
            return true;
        }
        match proc_stat(self.pid) {
            None => true,
            Some(start) => self.start != 0 && start != self.start,
        }
    }
}

impl std::fmt::Display for OwnerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{PREFIX}{}:{}:{}:{}:{}",
            self.host, self.boot, self.pid, self.start, self.nonce
        )
    }
}

fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().replace('-', "").chars().take(12).collect())
}

/// The start time of process `pid` in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`), `None` when there is no such process or it has exited: a killed
/// process stays a zombie (state `Z`) until its parent collects it, with its pid and start
/// time, and a restart right after the kill would otherwise take it for alive.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    if matches!(fields.next(), Some("Z" | "X" | "x")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Gives back the leases of processes on this host that are provably dead, so their
/// conversations and sends continue now rather than when the leases run out.
pub async fn take_over_dead(store: &DynStore, me: &OwnerId) -> crate::store::StoreResult<u64> {
    let mut taken = 0;
    for owner in store.lease_owners().await? {
        let Some(id) = OwnerId::parse(&owner) else {
            continue;
        };
        if id.is_dead(me, start_ticks) {
            let n = store.release_leases_of(&owner).await?;
            tracing::info!(owner = %owner, leases = n, "took over the leases of a process that is gone");
            taken += n;
        }
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_exited_but_was_not_collected_is_gone() {
        assert!(
            start_ticks(std::process::id()).is_some(),
            "this process runs"
        );
        let mut child = std::process::Command::new("true").spawn().unwrap();
        // Not waited for: once it exits it is a zombie, still in /proc.
        let t0 = std::time::Instant::now();
        while start_ticks(child.id()).is_some() {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(10),
                "`true` never exited"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(std::path::Path::new(&format!("/proc/{}", child.id())).exists());
        child.wait().unwrap();
    }

    fn me() -> OwnerId {
        OwnerId {
            host: "box".into(),
            boot: "b1".into(),
            pid: 10,
            start: 500,
            nonce: "n".into(),
        }
    }

    #[test]
    fn owner_ids_round_trip() {
        let id = OwnerId::current();
        assert_eq!(OwnerId::parse(&id.to_string()), Some(id.clone()));
        assert!(id.start > 0, "the start time is read from /proc");
        assert_eq!(OwnerId::parse("1234-abcd"), None);
        assert_eq!(OwnerId::parse("parley:a:b:c:d:e"), None);
    }

    #[test]
    fn only_provably_dead_owners_are_dead() {
        let me = me();
        let other = |host: &str, boot: &str, pid, start| OwnerId {
            host: host.into(),
            boot: boot.into(),
            pid,
            start,
            nonce: "x".into(),
        };
        let alive = |pid| (pid == 20).then_some(700);
        // Another host: never ours to judge.
        assert!(!other("elsewhere", "b1", 99, 1,).is_dead(&me, alive));
        // Same host, rebooted since.
        assert!(other("box", "b0", 20, 700).is_dead(&me, alive));
        // No such process.
        assert!(other("box", "b1", 99, 1).is_dead(&me, alive));
        // The pid was reused by a process that started later.
        assert!(other("box", "b1", 20, 650).is_dead(&me, alive));
        // Still running.
        assert!(!other("box", "b1", 20, 700).is_dead(&me, alive));
        // Itself.
        assert!(!me.is_dead(&me, |_| None));
    }

    #[test]
    fn this_process_is_alive_by_its_own_proc_entry() {
        let me = OwnerId::current();
        let twin = OwnerId {
            nonce: "other".into(),
            ..me.clone()
        };
        assert!(!twin.is_dead(&me, start_ticks));
    }
}
