//! One process owns a SQLite database: an exclusive lock on `<file>-parley.lock`, taken
//! before anything else touches the file and held until the process exits (the kernel drops
//! it when the process dies, SIGKILL included).
//!
//! Why: two processes on one file would each believe the other's leases live, and a second
//! `parley serve` started by mistake would silently split the work. Owning the file also
//! proves that every lease found in it belongs to a process that is gone, so a restart takes
//! all of them back at once (`reclaim_leases`) instead of waiting for them to expire.
//! Several processes are what PostgreSQL is for.

use super::statements::Conn;
use crate::store::{StoreError, StoreResult};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

/// Held for the life of the store; dropping it (or dying) releases the database.
#[derive(Debug)]
pub(super) struct OwnerLock {
    _file: File,
}

/// The lock file that guards `database`.
pub(super) fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-parley.lock");
    PathBuf::from(name)
}

/// Locks this process holds, by lock file: a second store on the same file in the same
/// process (tests restarting an app in-process) shares the lock instead of being refused.
static HELD: Mutex<Vec<(PathBuf, Weak<OwnerLock>)>> = Mutex::new(Vec::new());

/// The lock on `database` for this process: `fresh` when this call took it (no other store
/// of this process has the file open, so every lease in it belongs to a process that is gone).
pub(super) fn acquire_shared(database: &Path) -> StoreResult<(Arc<OwnerLock>, bool)> {
    let path = lock_path(database);
    let key = std::fs::canonicalize(&path).unwrap_or(path);
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    held.retain(|(_, lock)| lock.strong_count() > 0);
    if let Some(lock) = held
        .iter()
        .find(|(p, _)| *p == key)
        .and_then(|(_, lock)| lock.upgrade())
    {
        return Ok((lock, false));
    }
    let lock = Arc::new(OwnerLock::acquire(database)?);
    let key = std::fs::canonicalize(lock_path(database)).unwrap_or(key);
    held.push((key, Arc::downgrade(&lock)));
    Ok((lock, true))
}

impl OwnerLock {
    /// Takes the database for this process, or says which process has it.
    fn acquire(database: &Path) -> StoreResult<Self> {
        let path = lock_path(database);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                StoreError::Corrupt(format!("cannot open the lock file {}: {e}", path.display()))
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(StoreError::InUse(format!(
                    "the database {} is already used by another Parley process ({}). A SQLite database belongs to one process: stop that one first, or use PostgreSQL to run several",
                    database.display(),
                    if holder.is_empty() { "unknown process" } else { holder }
                )));
            }
            Err(TryLockError::Error(e)) => {
                return Err(StoreError::Corrupt(format!(
                    "cannot lock {}: {e}",
                    path.display()
                )))
            }
        }
        // Who holds it, for the message a second process prints.
        let about = format!(
            "pid {} on {}, since {}",
            std::process::id(),
            crate::store::hostname(),
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
        );
        let written = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(about.as_bytes()));
        if let Err(e) = written {
            tracing::warn!(error = %e, file = %path.display(), "could not note the owner in the lock file");
        }
        Ok(Self { _file: file })
    }
}

/// Clears every lease in the file. Only the owner of the lock may call this: any lease it
/// finds was taken by a process that has died (or stopped without finishing).
pub(super) fn reclaim_leases(conn: &Conn<'_>) -> StoreResult<u64> {
    clear_leases(conn, None)
}

pub(super) fn lease_owners(conn: &Conn<'_>) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare(&crate::store::sql::lease_owners_sql())?;
    let owners = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(owners)
}

pub(super) fn release_leases_of(conn: &Conn<'_>, owner: &str) -> StoreResult<u64> {
    clear_leases(conn, Some(owner))
}

/// Gives back the leases of `owner`, or of everyone.
fn clear_leases(conn: &Conn<'_>, owner: Option<&str>) -> StoreResult<u64> {
    let mut n = 0;
    for table in crate::store::sql::LEASED_TABLES {
        n += conn.execute(
            &format!(
                "update {table} set {}
                  where lease_owner is not null and (?1 is null or lease_owner = ?1)",
                crate::store::sql::give_back(table, "0")
            ),
            [owner],
        )? as u64;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_refused_with_the_first_ones_identity() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("parley.db");
        let first = OwnerLock::acquire(&db).unwrap();
        let err = OwnerLock::acquire(&db).unwrap_err().to_string();
        assert!(
            err.contains("already used by another Parley process"),
            "{err}"
        );
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        OwnerLock::acquire(&db).expect("free again once the owner is gone");
    }

    #[test]
    fn stores_of_one_process_share_the_lock_and_only_the_first_reclaims() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("parley.db");
        let (first, fresh) = acquire_shared(&db).unwrap();
        assert!(fresh);
        let (second, fresh) = acquire_shared(&db).unwrap();
        assert!(
            !fresh,
            "the second store of this process must not clear live leases"
        );
        assert!(Arc::ptr_eq(&first, &second));
        drop((first, second));
        assert!(
            acquire_shared(&db).unwrap().1,
            "taken afresh once both are gone"
        );
    }
}
