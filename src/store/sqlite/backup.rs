//! Online backup of a SQLite database: `parley backup --config parley.yaml FILE` while
//! Parley serves. `VACUUM INTO` copies one consistent snapshot (a read transaction, so the
//! daemon keeps writing) into a new, compact file that is itself a complete database:
//! restoring is stopping Parley and putting that file in place of the old one.

use crate::store::{StoreError, StoreResult};
use sqlx::sqlite::SqliteConnectOptions;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The database file a `sqlite:` URL names.
pub fn database_file(url: &str) -> StoreResult<PathBuf> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(StoreError::Corrupt(
            "an in-memory database has nothing to back up".into(),
        ));
    }
    Ok(SqliteConnectOptions::from_str(url)?
        .get_filename()
        .to_path_buf())
}

/// Copies the database at `database` into `out` (which must not exist yet) and checks the
/// copy. Returns the copy's size in bytes.
pub fn backup(database: &Path, out: &Path) -> StoreResult<u64> {
    if out.exists() {
        return Err(StoreError::Corrupt(format!(
            "{} already exists; Parley does not overwrite a backup",
            out.display()
        )));
    }
    if !database.exists() {
        return Err(StoreError::Corrupt(format!(
            "{} does not exist: is this the database in the config?",
            database.display()
        )));
    }
    let source = rusqlite::Connection::open_with_flags(
        database,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    source.busy_timeout(std::time::Duration::from_secs(10))?;
    source.execute("vacuum into ?1", [out.to_string_lossy().as_ref()])?;
    drop(source);
    let copy = rusqlite::Connection::open_with_flags(
        out,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let check: String = copy.query_row("pragma integrity_check", [], |row| row.get(0))?;
    if check != "ok" {
        return Err(StoreError::Corrupt(format!(
            "the backup at {} fails its integrity check: {check}",
            out.display()
        )));
    }
    Ok(std::fs::metadata(out).map(|m| m.len()).unwrap_or(0))
}
