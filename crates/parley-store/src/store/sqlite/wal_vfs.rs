//! The write connection's VFS: SQLite's own `unix` VFS, except that the WAL's writes of one
//! commit reach the kernel as one `pwrite` instead of two per page.
//!
//! SQLite appends a commit to the WAL frame by frame, and each frame as two writes: its
//! 24-byte header, then the page. At 1,000 webhooks/s that was ~56 `pwrite`s per webhook,
//! and the kernel's per-call work (the inode lock, the time stamps, a page-cache lookup per
//! call) was a fifth of the writer thread's CPU (BENCHMARKS.md, "One write per commit").
//! Here the writes that follow each other in the WAL are gathered in memory and handed to
//! the kernel together when the commit frame's page is written, so a commit is one call.
//!
//! Nothing SQLite relies on changes:
//! - The commit frame's write returns only once everything gathered is in the file, and
//!   its error (a full disk) is that write's error, so SQLite fails the commit as it would
//!   have. Readers learn of a commit from the WAL index (shared memory), which SQLite
//!   updates after that write returns, so no reader looks at frames still in memory.
//! - Any other use of the WAL (a read, a sync, its size, a truncation, a file control,
//!   closing it) and any write that does not follow the gathered ones first writes what is
//!   gathered; so does gathering more than `MAX_GATHERED`.
//! - With `synchronous = normal` a commit's frames were never synced at commit: like
//!   SQLite's own writes, they survive the process being killed once the commit returned;
//!   `synchronous = full` syncs them at commit as before (a sync writes what is gathered
//!   first).
//!
//! Only files opened as a WAL are wrapped; the database file and everything else are the
//! `unix` VFS's own objects. Other connections (readers, the checkpoint thread) use the
//! default VFS and share the same files and locks: the wrapped file is a real `unix` file.

use rusqlite::ffi;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::Ordering;
use std::sync::OnceLock;

/// The VFS's name, for `Connection::open_with_flags_and_vfs`.
pub(super) const NAME: &CStr = c"parley-unix-wal";

/// What is gathered at most before it is written anyway (a large transaction's spill).
const MAX_GATHERED: usize = 1 << 20;

/// The most the `unix` VFS writes in one call: it masks a write's length with `0x1ffff`
/// (`seekAndWriteFd`), so a longer one would be cut short and reported as a full disk.
const MAX_WRITE: usize = 1 << 16;

/// A WAL frame's header, before its page (SQLite's `WAL_FRAME_HDRSIZE`).
const FRAME_HEADER: usize = 24;

/// Registers the VFS (once per process) and returns its name, or the reason it could not
/// be: then the caller opens with the default VFS.
pub(super) fn register() -> Result<&'static CStr, String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            // SAFETY: `sqlite3_vfs_find(NULL)` initialises SQLite and returns the default
            // VFS, which lives as long as the process. The new VFS is leaked on purpose:
            // SQLite keeps a pointer to it for as long as the process runs.
            unsafe {
                let real = ffi::sqlite3_vfs_find(std::ptr::null());
                if real.is_null() {
                    return Err("SQLite has no default VFS".into());
                }
                if (*real).iVersion < 1 || (*real).xOpen.is_none() {
                    return Err("SQLite's default VFS cannot open files".into());
                }
                REAL.store(real, Ordering::Release);
                let vfs = Box::leak(Box::new(ffi::sqlite3_vfs {
                    iVersion: (*real).iVersion.min(3),
                    szOsFile: (WAL_FILE_SIZE + (*real).szOsFile as usize) as c_int,
                    mxPathname: (*real).mxPathname,
                    pNext: std::ptr::null_mut(),
                    zName: NAME.as_ptr(),
                    pAppData: std::ptr::null_mut(),
                    xOpen: Some(open),
                    xDelete: Some(delete),
                    xAccess: Some(access),
                    xFullPathname: Some(full_pathname),
                    xDlOpen: Some(dl_open),
                    xDlError: Some(dl_error),
                    xDlSym: Some(dl_sym),
                    xDlClose: Some(dl_close),
                    xRandomness: Some(randomness),
                    xSleep: Some(sleep),
                    xCurrentTime: Some(current_time),
                    xGetLastError: Some(get_last_error),
                    xCurrentTimeInt64: Some(current_time_int64),
                    // Test hooks of the unix VFS; they do not look at the VFS argument.
                    xSetSystemCall: (*real).xSetSystemCall,
                    xGetSystemCall: (*real).xGetSystemCall,
                    xNextSystemCall: (*real).xNextSystemCall,
                }));
                match ffi::sqlite3_vfs_register(vfs, 0) {
                    ffi::SQLITE_OK => Ok(()),
                    rc => Err(format!("registering the WAL VFS failed (SQLite code {rc})")),
                }
            }
        })
        .clone()
        .map(|()| NAME)
}

/// The default VFS, every call of the wrapper goes to.
static REAL: std::sync::atomic::AtomicPtr<ffi::sqlite3_vfs> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

fn real() -> *mut ffi::sqlite3_vfs {
    REAL.load(Ordering::Acquire)
}

/// A WAL opened through this VFS: the file object SQLite sees, followed in the same
/// allocation (`szOsFile`) by the `unix` VFS's own file object.
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    /// The `unix` file, in the bytes right after this struct.
    real: *mut ffi::sqlite3_file,
    gathered: *mut Gathered,
}

/// `WalFile`'s size rounded up so the `unix` file after it is aligned.
const WAL_FILE_SIZE: usize = std::mem::size_of::<WalFile>().div_ceil(16) * 16;

/// Writes that follow each other in the file, not yet handed to the kernel.
#[derive(Default)]
struct Gathered {
    /// Where `bytes` go in the file.
    offset: i64,
    bytes: Vec<u8>,
    /// The last write was a commit frame's header: the next (its page) ends the commit
    /// and is written at once, whatever was written in between.
    commit_next: bool,
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let real_vfs = real();
    let real_open = (*real_vfs).xOpen.expect("checked at registration");
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // Not a WAL: the unix VFS's own object, in the whole of `file`.
        return real_open(real_vfs, name, file, flags, out_flags);
    }
    let wal = file.cast::<WalFile>();
    let inner = file
        .cast::<u8>()
        .add(WAL_FILE_SIZE)
        .cast::<ffi::sqlite3_file>();
    (*wal).base.pMethods = std::ptr::null();
    (*inner).pMethods = std::ptr::null();
    let rc = real_open(real_vfs, name, inner, flags, out_flags);
    if rc != ffi::SQLITE_OK {
        // SQLite closes a file whose open failed only if its methods are set: ours are not.
        if let Some(close) = (*inner).pMethods.as_ref().and_then(|m| m.xClose) {
            close(inner);
        }
        return rc;
    }
    (*wal).real = inner;
    (*wal).gathered = Box::into_raw(Box::default());
    (*wal).base.pMethods = &METHODS;
    ffi::SQLITE_OK
}

/// The wrapped file's `unix` object and its methods.
unsafe fn inner(
    file: *mut ffi::sqlite3_file,
) -> (*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) {
    let real = (*file.cast::<WalFile>()).real;
    (real, &*(*real).pMethods)
}

/// Hands what is gathered to the kernel: one `pwrite` per `MAX_WRITE` bytes (a commit of
/// Parley's is one), which `unix` repeats if the kernel took only part of one.
unsafe fn flush(file: *mut ffi::sqlite3_file) -> c_int {
    let gathered = &mut *(*file.cast::<WalFile>()).gathered;
    if gathered.bytes.is_empty() {
        return ffi::SQLITE_OK;
    }
    let (real, methods) = inner(file);
    let write = methods.xWrite.expect("a unix file writes");
    #[cfg(test)]
    {
        tests::count(1, 0);
        if tests::FAIL_NEXT_FLUSH.with(|f| f.replace(false)) {
            gathered.bytes.clear();
            return ffi::SQLITE_FULL;
        }
    }
    let mut rc = ffi::SQLITE_OK;
    let mut offset = gathered.offset;
    for part in gathered.bytes.chunks(MAX_WRITE) {
        rc = write(real, part.as_ptr().cast(), part.len() as c_int, offset);
        if rc != ffi::SQLITE_OK {
            break;
        }
        offset += part.len() as i64;
    }
    gathered.bytes.clear();
    rc
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let Ok(len) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    let gathered = &mut *(*file.cast::<WalFile>()).gathered;
    // The write after a commit frame's header is that frame's page: the commit's last.
    let ends_commit = std::mem::take(&mut gathered.commit_next);
    let follows = gathered.offset + gathered.bytes.len() as i64 == offset;
    if !gathered.bytes.is_empty() && (!follows || gathered.bytes.len() + len > MAX_GATHERED) {
        let rc = flush(file);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    let gathered = &mut *(*file.cast::<WalFile>()).gathered;
    if gathered.bytes.is_empty() {
        gathered.offset = offset;
    }
    let bytes = std::slice::from_raw_parts(data.cast::<u8>(), len);
    gathered.bytes.extend_from_slice(bytes);
    #[cfg(test)]
    tests::count(0, 1);
    if ends_commit {
        // The commit is complete, and written before SQLite tells anyone of it.
        return flush(file);
    }
    // A frame header's bytes 4..8 hold the database's size after a commit frame, and 0
    // in every other frame.
    if len == FRAME_HEADER && bytes[4..8] != [0, 0, 0, 0] {
        gathered.commit_next = true;
    }
    if gathered.bytes.len() >= MAX_GATHERED {
        return flush(file);
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    let flushed = flush(file);
    let wal = file.cast::<WalFile>();
    drop(Box::from_raw((*wal).gathered));
    (*wal).gathered = std::ptr::null_mut();
    let (real, methods) = inner(file);
    let closed = methods.xClose.map_or(ffi::SQLITE_OK, |close| close(real));
    (*wal).base.pMethods = std::ptr::null();
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        closed
    }
}

/// The method `$method` of the `unix` file, after what is gathered is written.
macro_rules! flushed_then {
    ($file:expr, $method:ident ( $($arg:expr),* )) => {{
        let rc = flush($file);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        let (real, methods) = inner($file);
        match methods.$method {
            Some(f) => f(real $(, $arg)*),
            None => ffi::SQLITE_IOERR,
        }
    }};
}

/// The method `$method` of the `unix` file, with nothing to write first.
macro_rules! passed {
    ($file:expr, $method:ident ( $($arg:expr),* ), $missing:expr) => {{
        let (real, methods) = inner($file);
        match methods.$method {
            Some(f) => f(real $(, $arg)*),
            None => $missing,
        }
    }};
}

unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    data: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    flushed_then!(file, xRead(data, amount, offset))
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    flushed_then!(file, xTruncate(size))
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    flushed_then!(file, xSync(flags))
}

unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    flushed_then!(file, xFileSize(size))
}

unsafe extern "C" fn file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    flushed_then!(file, xFileControl(op, arg))
}

unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    passed!(file, xLock(level), ffi::SQLITE_OK)
}

unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    passed!(file, xUnlock(level), ffi::SQLITE_OK)
}

unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    passed!(file, xCheckReservedLock(out), ffi::SQLITE_OK)
}

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    passed!(file, xSectorSize(), 4096)
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    passed!(file, xDeviceCharacteristics(), 0)
}

unsafe extern "C" fn shm_map(
    file: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    passed!(file, xShmMap(region, size, extend, out), ffi::SQLITE_IOERR)
}

unsafe extern "C" fn shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    passed!(file, xShmLock(offset, n, flags), ffi::SQLITE_IOERR)
}

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    passed!(file, xShmBarrier(), ())
}

unsafe extern "C" fn shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    passed!(file, xShmUnmap(delete), ffi::SQLITE_OK)
}

unsafe extern "C" fn fetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    flushed_then!(file, xFetch(offset, amount, out))
}

unsafe extern "C" fn unfetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    page: *mut c_void,
) -> c_int {
    passed!(file, xUnfetch(offset, page), ffi::SQLITE_OK)
}

// The VFS's own methods: the default VFS's, called with the default VFS.

unsafe extern "C" fn delete(_: *mut ffi::sqlite3_vfs, name: *const c_char, sync: c_int) -> c_int {
    let r = real();
    (*r).xDelete
        .map_or(ffi::SQLITE_IOERR_DELETE, |f| f(r, name, sync))
}

unsafe extern "C" fn access(
    _: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    let r = real();
    (*r).xAccess
        .map_or(ffi::SQLITE_IOERR_ACCESS, |f| f(r, name, flags, out))
}

unsafe extern "C" fn full_pathname(
    _: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    let r = real();
    (*r).xFullPathname
        .map_or(ffi::SQLITE_CANTOPEN, |f| f(r, name, n, out))
}

unsafe extern "C" fn dl_open(_: *mut ffi::sqlite3_vfs, name: *const c_char) -> *mut c_void {
    let r = real();
    (*r).xDlOpen.map_or(std::ptr::null_mut(), |f| f(r, name))
}

unsafe extern "C" fn dl_error(_: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) {
    let r = real();
    if let Some(f) = (*r).xDlError {
        f(r, n, out)
    }
}

unsafe extern "C" fn dl_sym(
    _: *mut ffi::sqlite3_vfs,
    handle: *mut c_void,
    name: *const c_char,
) -> Option<unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char)> {
    let r = real();
    (*r).xDlSym.and_then(|f| f(r, handle, name))
}

unsafe extern "C" fn dl_close(_: *mut ffi::sqlite3_vfs, handle: *mut c_void) {
    let r = real();
    if let Some(f) = (*r).xDlClose {
        f(r, handle)
    }
}

unsafe extern "C" fn randomness(_: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    let r = real();
    (*r).xRandomness.map_or(0, |f| f(r, n, out))
}

unsafe extern "C" fn sleep(_: *mut ffi::sqlite3_vfs, micros: c_int) -> c_int {
    let r = real();
    (*r).xSleep.map_or(0, |f| f(r, micros))
}

unsafe extern "C" fn current_time(_: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    let r = real();
    (*r).xCurrentTime.map_or(ffi::SQLITE_ERROR, |f| f(r, out))
}

unsafe extern "C" fn get_last_error(_: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    let r = real();
    (*r).xGetLastError.map_or(0, |f| f(r, n, out))
}

unsafe extern "C" fn current_time_int64(_: *mut ffi::sqlite3_vfs, out: *mut i64) -> c_int {
    let r = real();
    (*r).xCurrentTimeInt64
        .map_or(ffi::SQLITE_ERROR, |f| f(r, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{params, Connection, OpenFlags};
    use std::path::Path;

    thread_local! {
        /// The next write of gathered bytes on this thread fails as a full disk would.
        pub(super) static FAIL_NEXT_FLUSH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        /// Writes of gathered bytes to the WAL made on this thread, and SQLite's `xWrite`
        /// calls to it.
        static COUNTS: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
    }

    pub(super) fn count(flushes: u64, writes: u64) {
        // `try_with`: a connection closed while its thread ends is not counted.
        let _ = COUNTS.try_with(|c| {
            let (f, w) = c.get();
            c.set((f + flushes, w + writes));
        });
    }

    fn counts() -> (u64, u64) {
        COUNTS.with(|c| c.get())
    }

    /// A WAL-mode connection through this VFS, with 1 KiB pages like Parley's databases.
    fn writing(path: &Path) -> Connection {
        let name = register().unwrap().to_str().unwrap();
        let conn = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), name).unwrap();
        conn.execute_batch(
            "pragma page_size = 1024; pragma journal_mode = wal; pragma synchronous = normal;
             create table if not exists t (id integer primary key, k text unique, v blob);",
        )
        .unwrap();
        conn
    }

    fn rows(conn: &Connection) -> (i64, i64) {
        conn.query_row(
            "select count(*), coalesce(sum(length(v)), 0) from t",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    fn assert_intact(conn: &Connection) {
        let check: String = conn
            .query_row("pragma integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }

    /// The database of `dir` as a killed process leaves it: a copy of its file and WAL
    /// (no shared memory), opened on the default VFS, which recovers it from the WAL.
    fn recovered_copy(dir: &Path) -> (tempfile::TempDir, Connection) {
        let copy = tempfile::tempdir().unwrap();
        for name in ["w.db", "w.db-wal"] {
            std::fs::copy(dir.join(name), copy.path().join(name)).unwrap();
        }
        let conn = Connection::open(copy.path().join("w.db")).unwrap();
        (copy, conn)
    }

    #[test]
    fn a_commit_reaches_the_wal_in_one_write() {
        let dir = tempfile::tempdir().unwrap();
        let conn = writing(&dir.path().join("w.db"));
        let (flushes, writes) = counts();
        let tx = conn.unchecked_transaction().unwrap();
        for i in 0..200 {
            tx.execute(
                "insert into t (k, v) values (?1, zeroblob(100))",
                params![format!("k{i}")],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        let (flushes_after, writes_after) = counts();
        assert_eq!(flushes_after - flushes, 1, "one write for the commit");
        // Each frame was two writes (header and page) for SQLite; dozens of pages changed.
        assert!(
            writes_after - writes > 40,
            "{} writes gathered",
            writes_after - writes
        );
    }

    #[test]
    fn every_commit_is_seen_at_once_by_a_connection_on_the_default_vfs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = writing(&path);
        let reader = Connection::open(&path).unwrap();
        for i in 0..300_i64 {
            conn.execute(
                "insert into t (k, v) values (?1, randomblob(?2))",
                params![format!("k{i}"), i * 7 % 3000],
            )
            .unwrap();
            let (n, _) = rows(&reader);
            assert_eq!(
                n,
                i + 1,
                "the reader sees commit {i} as soon as it returned"
            );
        }
        assert_intact(&reader);
    }

    /// The WAL on disk holds every commit once it returned: a copy of the files taken
    /// while the writer is still open (as a killed process leaves them) is recovered from
    /// its WAL alone with every row, including a transaction too large to gather at once,
    /// and nothing of one rolled back after spilling pages into the WAL.
    #[test]
    fn the_wal_on_disk_holds_every_commit_as_a_killed_process_would_leave_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = writing(&path);
        // Checkpoints only where the test says, so the WAL holds everything below.
        conn.execute_batch("pragma wal_autocheckpoint = 0; pragma cache_size = 20;")
            .unwrap();
        let mut expected = (0_i64, 0_i64);
        for i in 0..50_i64 {
            conn.execute(
                "insert into t (k, v) values (?1, randomblob(?2))",
                params![format!("small{i}"), 10 + i],
            )
            .unwrap();
            expected = (expected.0 + 1, expected.1 + 10 + i);
        }
        // Larger than MAX_GATHERED and MAX_WRITE: written in parts, then the commit.
        let tx = conn.unchecked_transaction().unwrap();
        for i in 0..6_i64 {
            tx.execute(
                "insert into t (k, v) values (?1, randomblob(1000000))",
                params![format!("big{i}")],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        expected = (expected.0 + 6, expected.1 + 6_000_000);
        // Spilled into the WAL by the small cache, then rolled back.
        let tx = conn.unchecked_transaction().unwrap();
        for i in 0..500_i64 {
            tx.execute(
                "insert into t (k, v) values (?1, randomblob(900))",
                params![format!("gone{i}")],
            )
            .unwrap();
        }
        tx.rollback().unwrap();
        conn.execute("insert into t (k, v) values ('last', randomblob(5))", [])
            .unwrap();
        expected = (expected.0 + 1, expected.1 + 5);
        assert_eq!(rows(&conn), expected);

        let (_copy, recovered) = recovered_copy(dir.path());
        assert_eq!(rows(&recovered), expected, "recovered from the WAL alone");
        let gone: i64 = recovered
            .query_row("select count(*) from t where k like 'gone%'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(gone, 0);
        assert_intact(&recovered);
    }

    /// A commit whose write fails (a full disk) fails with SQLite's error and leaves
    /// nothing behind: no reader sees it, the WAL recovers without it, and the next commit
    /// goes through.
    #[test]
    fn a_commit_whose_write_fails_is_an_error_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = writing(&path);
        conn.execute_batch("pragma wal_autocheckpoint = 0;")
            .unwrap();
        let reader = Connection::open(&path).unwrap();
        conn.execute("insert into t (k, v) values ('before', randomblob(10))", [])
            .unwrap();
        FAIL_NEXT_FLUSH.with(|f| f.set(true));
        let failed = conn.execute("insert into t (k, v) values ('lost', randomblob(10))", []);
        let Err(rusqlite::Error::SqliteFailure(e, _)) = failed else {
            panic!("the commit should fail, got {failed:?}");
        };
        assert_eq!(e.code, rusqlite::ErrorCode::DiskFull);
        assert_eq!(
            rows(&reader),
            (1, 10),
            "the reader sees only the commit before"
        );
        assert_eq!(rows(&conn), (1, 10), "the writer too");
        conn.execute("insert into t (k, v) values ('after', randomblob(20))", [])
            .unwrap();
        assert_eq!(rows(&reader), (2, 30));
        let (_copy, recovered) = recovered_copy(dir.path());
        let keys: Vec<String> = recovered
            .prepare("select k from t order by id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(keys, ["before", "after"]);
    }

    #[test]
    fn full_synchronous_and_checkpoints_work_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = writing(&path);
        conn.execute_batch("pragma synchronous = full; pragma wal_autocheckpoint = 50;")
            .unwrap();
        for i in 0..400_i64 {
            conn.execute(
                "insert into t (k, v) values (?1, randomblob(700))",
                params![format!("k{i}")],
            )
            .unwrap();
        }
        // A checkpoint that starts the WAL over: the next commits are written from its start.
        conn.query_row("pragma wal_checkpoint(truncate)", [], |_| Ok(()))
            .unwrap();
        for i in 400..450_i64 {
            conn.execute(
                "insert into t (k, v) values (?1, randomblob(700))",
                params![format!("k{i}")],
            )
            .unwrap();
        }
        drop(conn);
        let reopened = Connection::open(&path).unwrap();
        assert_eq!(rows(&reopened), (450, 450 * 700));
        assert_intact(&reopened);
    }
}
