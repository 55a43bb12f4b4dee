//! SQLite implementation of the store: one database file in WAL mode, the default backend.
//!
//! SQLite has a single writer, so every write goes through ONE connection owned by a writer
//! thread (`writer.rs`): each write is a closure run there, and the closures waiting at the
//! same moment share one transaction (group commit), each in its own savepoint. Writers queue
//! in-process instead of spinning on busy errors, and a write that reads before it writes
//! never loses its snapshot. API reads use a separate pool of read-only sqlx connections; the
//! hot path's reads run on the writer thread. Transactions begin `immediate` so that a second
//! process on the same file waits on `busy_timeout` rather than failing mid-transaction.
//! Timestamps are INTEGER unix microseconds and JSON is TEXT (see `migrations/sqlite`).
//!
//! Each trait of the store is implemented in the file of its concept: `ingest` (webhooks),
//! `inbox` (contacts, conversations, leases, steps), `outbox` (sends), `senders` (stopped
//! senders), `timers`, `schedules` (system events, schedule fires, audiences, pacing),
//! `media` (inbound media downloads) and `reads` (the API's listings); `Process` is here.
//! They share only `rows` (row decoders and the statements several of them run) and
//! `statuses` (delivery statuses, applied by `ingest` and replayed by `outbox`), which
//! import none of them. `checkpoint` keeps SQLite's checkpoints off the writer's commits.

mod account;
mod audit;
pub mod backup;
mod broadcasts;
mod chatwoot;
mod checkpoint;
mod connection;
mod contacts;
mod costs;
mod events_log;
mod events_out;
mod exchanges;
mod experiment_insights;
mod flow_saves;
mod identity;
mod inbox;
mod ingest;
mod insights;
mod knowledge_docs;
mod media;
mod outbox;
mod owner;
mod queue;
mod reads;
mod retention;
mod rollouts;
mod routing;
mod rows;
mod schedules;
mod scores;
mod senders;
mod statements;
mod statuses;
mod timers;
mod unanswered;
mod wal_vfs;
mod writer;

use writer::Writer;

use super::{Process, StoreError, StoreResult};
use crate::config::{DatabaseConfig, SqliteSynchronous};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous as Synchronous,
};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How long a write waits for another process holding the file's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes per page of a database Parley creates (SQLite's default is 4,096; a database made
/// before keeps its own). Each commit writes every page it changed to the WAL in full, and
/// a message changes a few bytes on each of ~19 pages (the last page of each table and
/// index it touches), so smaller pages write a quarter of the bytes, and a checkpoint's
/// flush of the WAL has a quarter to flush. Measured (BENCHMARKS.md, issue 19): at
/// 3,000 webhooks/s e2e p99 293 ms → 29 ms, at 1,000/s 13–15 ms → 7–8 ms.
const PAGE_SIZE: u32 = 1024;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: Writer,
    reader: SqlitePool,
    /// This process owns the file (`owner.rs`); shared by the store's clones.
    _owner: Arc<owner::OwnerLock>,
    /// Holds the temporary file that stands in for `sqlite::memory:`.
    _scratch: Option<Arc<tempfile::TempDir>>,
    /// The database file as opened, which `ping` checks is still there.
    file: Arc<OpenedFile>,
    /// Whether events out are recorded (`events_log`; shared by clones).
    events: crate::store::Recording,
}

/// A database file, and which file it was when opened (device and inode): deleted or
/// replaced while Parley runs, Parley would go on writing to a file nobody can open again,
/// and start empty next time, without a word.
#[derive(Debug)]
struct OpenedFile {
    path: std::path::PathBuf,
    id: Option<(u64, u64)>,
}

impl OpenedFile {
    fn of(path: &std::path::Path) -> Self {
        Self {
            path: path.to_path_buf(),
            id: file_id(path),
        }
    }

    /// Why the file at the path is no longer the one opened, if it is not.
    fn gone(&self) -> Option<String> {
        let opened = self.id?;
        match file_id(&self.path) {
            Some(now) if now == opened => None,
            Some(_) => Some("was replaced by another file"),
            None => Some("was deleted"),
        }
        .map(|what| {
            format!(
                "the database file {} {what} while Parley runs: what Parley stores now is lost when it stops; put the file back, or restart Parley to use the file now there",
                self.path.display()
            )
        })
    }
}

#[cfg(unix)]
fn file_id(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &std::path::Path) -> Option<(u64, u64)> {
    None
}

/// The SQLite file's folder, created when missing: one that cannot be made or written is
/// named with the setting that chose it (`config::places`), not as a lock file that could
/// not be opened.
fn prepare_folder(file: &std::path::Path) -> StoreResult<()> {
    let folder = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let why = match std::fs::create_dir_all(folder) {
        Ok(()) => crate::config::places::unwritable(folder),
        Err(e) => Some(format!("{} cannot be created: {e}", folder.display())),
    };
    match why {
        None => Ok(()),
        Some(why) => Err(StoreError::Place(crate::config::places::database_problem(
            &why,
        ))),
    }
}

impl SqliteStore {
    /// Opens `database.url` (`sqlite://parley.db`, created if missing) and migrates it.
    /// `sqlite::memory:` opens a temporary file that is deleted with the store: the writer
    /// thread and the reader pool must see the same database, which an in-memory database
    /// cannot offer across connections.
    pub async fn connect(config: &DatabaseConfig) -> StoreResult<Self> {
        let in_memory = config.url.contains(":memory:") || config.url.contains("mode=memory");
        let (options, scratch) = if in_memory {
            let dir = tempfile::tempdir().map_err(|e| {
                StoreError::Corrupt(format!("cannot create a temporary database: {e}"))
            })?;
            let options = SqliteConnectOptions::new().filename(dir.path().join("parley.db"));
            (options, Some(Arc::new(dir)))
        } else {
            let options = SqliteConnectOptions::from_str(&config.url)?;
            prepare_folder(options.get_filename())?;
            (options, None)
        };
        let mut store = Self::open(
            options,
            config.sqlite_synchronous,
            config.max_connections.max(1),
        )
        .await?;
        store._scratch = scratch;
        Ok(store)
    }

    /// Creates (if missing) and migrates the file named by `options`, then starts the
    /// writer thread and a pool of `readers` read connections.
    pub async fn open(
        options: SqliteConnectOptions,
        sync: SqliteSynchronous,
        readers: u32,
    ) -> StoreResult<Self> {
        without_memory_statistics();
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match sync {
                SqliteSynchronous::Normal => Synchronous::Normal,
                SqliteSynchronous::Full => Synchronous::Full,
            })
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .page_size(PAGE_SIZE);
        let path = options.get_filename().to_path_buf();
        let existed = path.exists();
        // Before anything touches the file: one process owns it.
        let (owner, fresh) = owner::acquire_shared(options.get_filename())?;
        {
            // Migrations run once, on a connection of their own, before anything writes.
            let mut conn = options.connect().await?;
            crate::store::migrations::migrator(crate::store::migrations::SQLITE)
                .await?
                .run(&mut conn)
                .await?;
            retention::incremental_vacuum_on(&mut conn).await?;
            conn.close().await?;
        }
        if !existed {
            // Said, since a volume that did not mount looks like this too.
            tracing::info!(path = %options.get_filename().display(), "created a new, empty database");
        }
        let writer = Writer::open(options.get_filename(), sync, BUSY_TIMEOUT)?;
        // Owning the file proves that whoever holds a lease in it is gone: take them all
        // back now rather than waiting for them to run out.
        let reclaimed = if fresh {
            writer.run(owner::reclaim_leases).await? + writer.run(retention::forget_lease).await?
        } else {
            0
        };
        if reclaimed > 0 {
            tracing::info!(
                leases = reclaimed,
                "took back the leases of the previous process"
            );
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(readers)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self {
            writer,
            reader,
            _owner: owner,
            _scratch: None,
            file: Arc::new(OpenedFile::of(&path)),
            events: Default::default(),
        })
    }
}

/// SQLite keeps statistics of its memory use (`sqlite3_memory_used`, which Parley never
/// reads) by taking a process-wide mutex around every allocation and free; on the writer's
/// hot path that lock was the top entry of the profile (see BENCHMARKS.md). Switched off
/// once per process, before SQLite is first used; once SQLite is initialised it refuses the
/// change (`SQLITE_MISUSE`) and keeps counting, which is only slower.
fn without_memory_statistics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `sqlite3_config` with `SQLITE_CONFIG_MEMSTATUS` takes one `int`; called
        // once, before any connection of this process is opened by this store (if SQLite
        // was initialised already, it returns `SQLITE_MISUSE` and changes nothing).
        let rc = unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::os::raw::c_int,
            )
        };
        tracing::debug!(rc, "SQLite memory statistics off");
    });
}

#[async_trait]
impl Process for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        // The file first: a reader opened on a deleted one fails in words that do not
        // say why.
        if let Some(why) = self.file.gone() {
            return Err(StoreError::Place(why));
        }
        sqlx::query("select 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn lease_owners(&self) -> StoreResult<Vec<String>> {
        self.writer.run(owner::lease_owners).await
    }

    async fn release_leases_of(&self, lease_owner: &str) -> StoreResult<u64> {
        let lease_owner = lease_owner.to_string();
        self.writer
            .run(move |conn| owner::release_leases_of(conn, &lease_owner))
            .await
    }
}

/// A store's file at `path`, created and migrated by the store, and a connection of its
/// own to fill it directly (foreign keys off), for tests of single statements.
#[cfg(test)]
pub(super) async fn migrated_for_test(
    path: &std::path::Path,
) -> (SqliteStore, rusqlite::Connection) {
    let store = SqliteStore::connect(&DatabaseConfig {
        url: format!("sqlite://{}", path.display()),
        ..DatabaseConfig::default()
    })
    .await
    .unwrap();
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("pragma foreign_keys = off").unwrap();
    (store, conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Outbox;

    async fn page_size(dir: &tempfile::TempDir) -> i64 {
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        let store = SqliteStore::connect(&DatabaseConfig {
            url,
            ..DatabaseConfig::default()
        })
        .await
        .unwrap();
        // The store works on it, whatever its page size.
        assert_eq!(store.outbox_depth().await.unwrap(), 0);
        sqlx::query_scalar("pragma page_size")
            .fetch_one(&store.reader)
            .await
            .unwrap()
    }

    /// A database a newer Parley migrated (after a downgrade) is refused, saying so and
    /// what to do, not only sqlx's "previously applied but is missing".
    #[tokio::test]
    async fn a_database_of_a_newer_parley_is_refused_in_plain_words() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        let config = DatabaseConfig {
            url,
            ..DatabaseConfig::default()
        };
        drop(SqliteStore::connect(&config).await.unwrap());
        rusqlite::Connection::open(dir.path().join("p.db"))
            .unwrap()
            .execute_batch(
                "insert into _sqlx_migrations (version, description, success, checksum, execution_time)
                 values (20991231000000, 'from the future', 1, x'00', 0)",
            )
            .unwrap();
        let e = SqliteStore::connect(&config)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains(
                "this database was migrated by a newer Parley (its migration 20991231000000"
            ),
            "{e}"
        );
        assert!(e.contains("restore the backup"), "{e}");
    }

    /// A database Parley creates has small pages; one made before (SQLite's 4,096) keeps
    /// its own and still opens, migrates and works.
    #[tokio::test]
    async fn a_new_database_has_small_pages_and_an_old_one_keeps_its_own() {
        let new = tempfile::tempdir().unwrap();
        assert_eq!(page_size(&new).await, i64::from(PAGE_SIZE));
        let old = tempfile::tempdir().unwrap();
        rusqlite::Connection::open(old.path().join("p.db"))
            .unwrap()
            .execute_batch("pragma page_size = 4096; create table before_parley (x integer);")
            .unwrap();
        assert_eq!(page_size(&old).await, 4096);
    }

    /// A database file deleted (or replaced) under a running Parley turns `ping`, so
    /// `/readyz`, red, naming it; the file put back turns it green again.
    #[tokio::test]
    async fn a_deleted_database_file_fails_the_ping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let store = SqliteStore::connect(&DatabaseConfig {
            url: format!("sqlite://{}", path.display()),
            ..DatabaseConfig::default()
        })
        .await
        .unwrap();
        store.ping().await.unwrap();
        let aside = dir.path().join("aside.db");
        std::fs::rename(&path, &aside).unwrap();
        let why = store.ping().await.unwrap_err().to_string();
        assert!(why.contains("d.db was deleted while Parley runs"), "{why}");
        std::fs::copy(&aside, &path).unwrap();
        let why = store.ping().await.unwrap_err().to_string();
        assert!(why.contains("was replaced by another file"), "{why}");
        std::fs::rename(&aside, &path).unwrap();
        store.ping().await.unwrap();
    }
}
