//! Online backup of a SQLite database: `parley backup --config parley.yaml FILE` while
//! Parley serves. `VACUUM INTO` copies one consistent snapshot (a read transaction, so the
//! daemon keeps writing) into a new, compact file that is itself a complete database:
//! restoring is stopping Parley and putting that file in place of the old one.
//!
//! This module only copies and checks. Where the copy goes, and that it appears under its
//! name only once it is whole, is `cli::backup`'s business: here it is an empty file the
//! caller created.

use sqlx::sqlite::SqliteConnectOptions;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Why a SQLite database could not be copied.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("an in-memory database has nothing to back up")]
    InMemory,
    #[error("the database url cannot be read: {0}")]
    Url(sqlx::Error),
    #[error("{} does not exist: is this the database in the config?", .0.display())]
    Missing(PathBuf),
    #[error("the database could not be opened: {0}")]
    Open(rusqlite::Error),
    /// `VACUUM INTO` failed: most often the copy's disk is full.
    #[error("{0}")]
    Copy(rusqlite::Error),
    #[error("the copy fails its integrity check: {0}")]
    Integrity(String),
}

impl CopyError {
    /// Whether the failure was in writing or checking the copy (rather than in finding and
    /// opening the database to copy).
    pub fn is_in_the_copy(&self) -> bool {
        matches!(self, CopyError::Copy(_) | CopyError::Integrity(_))
    }
}

/// The database file a `sqlite:` URL names.
pub fn database_file(url: &str) -> Result<PathBuf, CopyError> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(CopyError::InMemory);
    }
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(CopyError::Url)?
        .get_filename()
        .to_path_buf())
}

/// Copies the database at `database` into `into`, an empty file, and checks the copy.
/// On an error `into` holds whatever was written: the caller discards it.
pub fn copy_into(database: &Path, into: &Path) -> Result<(), CopyError> {
    if !database.exists() {
        return Err(CopyError::Missing(database.to_path_buf()));
    }
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let source = rusqlite::Connection::open_with_flags(database, flags).map_err(CopyError::Open)?;
    source
        .busy_timeout(std::time::Duration::from_secs(10))
        .map_err(CopyError::Open)?;
    // `VACUUM INTO` accepts an existing file only when it is empty, and keeps its mode.
    source
        .execute("vacuum into ?1", [into.to_string_lossy().as_ref()])
        .map_err(CopyError::Copy)?;
    drop(source);
    let copy = rusqlite::Connection::open_with_flags(into, flags).map_err(CopyError::Copy)?;
    let check: String = copy
        .query_row("pragma integrity_check", [], |row| row.get(0))
        .map_err(CopyError::Copy)?;
    if check != "ok" {
        return Err(CopyError::Integrity(check));
    }
    Ok(())
}
