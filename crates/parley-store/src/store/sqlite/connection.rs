//! Opening the write connection: the VFS that writes a commit's WAL frames in one call,
//! lookaside memory for its statements, and `pragma synchronous` (which the checkpoints'
//! connection shares).

use crate::config::SqliteSynchronous;
use crate::store::StoreResult;
use rusqlite::Connection;
use std::os::raw::c_int;
use std::path::Path;

/// Opens the write connection on the VFS that writes a commit's WAL frames in one call
/// (`wal_vfs.rs`), or on SQLite's default one if that VFS could not be registered.
pub(super) fn open_writing(path: &Path) -> StoreResult<Connection> {
    match super::wal_vfs::register() {
        Ok(vfs) => Ok(Connection::open_with_flags_and_vfs(
            path,
            rusqlite::OpenFlags::default(),
            vfs.to_str().expect("the VFS's name is ASCII"),
        )?),
        Err(e) => {
            tracing::warn!(error = %e, "writing the SQLite WAL page by page");
            Ok(Connection::open(path)?)
        }
    }
}

/// Slots of SQLite's lookaside memory on the writer's connection: its own pool for the
/// small allocations a statement makes each time it runs (cursors, value buffers, records).
/// SQLite's default (40 slots of 1,200 bytes, some split into 128-byte ones) is taken for
/// good by the programs of the writer's cached statements, and every other allocation went
/// to `malloc`: about 250 per webhook (BENCHMARKS.md, "Allocations"). 1.2 MB: room for 150
/// prepared statements and their runs (the test below; the store's SQLite code has about
/// 130, the hot path uses a few dozen, and 500 slots fit the benchmark but not those 150).
/// A writer that prepares more goes to `malloc` again for some runs, which is only slower.
const LOOKASIDE_SLOTS: c_int = 1_000;
const LOOKASIDE_SLOT_BYTES: c_int = 1_200;

/// Gives the writer's connection `LOOKASIDE_SLOTS` of lookaside memory. Must run before the
/// connection prepares anything; if SQLite refuses (lookaside in use), it keeps its default,
/// which is only slower.
pub(super) fn more_lookaside(conn: &Connection) {
    // SAFETY: `SQLITE_DBCONFIG_LOOKASIDE` takes a buffer pointer (null: SQLite allocates
    // it), the slot size and the slot count, on a connection this thread owns and has not
    // used yet.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_db_config(
            conn.handle(),
            rusqlite::ffi::SQLITE_DBCONFIG_LOOKASIDE,
            std::ptr::null_mut::<std::os::raw::c_void>(),
            LOOKASIDE_SLOT_BYTES,
            LOOKASIDE_SLOTS,
        )
    };
    if rc != rusqlite::ffi::SQLITE_OK {
        tracing::debug!(rc, "SQLite kept its default lookaside memory");
    }
}

/// Sets `pragma synchronous` on a connection of the writer's (the checkpoints' fsyncs
/// follow it too).
pub(super) fn set_synchronous(conn: &Connection, sync: SqliteSynchronous) -> StoreResult<()> {
    conn.pragma_update(
        None,
        "synchronous",
        match sync {
            SqliteSynchronous::Normal => "normal",
            SqliteSynchronous::Full => "full",
        },
    )?;
    Ok(())
}
