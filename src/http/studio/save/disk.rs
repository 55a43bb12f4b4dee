//! Writing a project file so that nobody ever reads half of it, and one save at a time per
//! file. The text goes to a hidden temporary file in the same folder (the loader and hot
//! reload skip hidden files), is flushed to disk, renamed over the file (or linked in
//! place of none, for a new file, so an existing one is never replaced) and the folder is
//! flushed too, so the rename survives a power cut. The lock is this process's only:
//! several processes sharing one flows folder are not kept from writing at once (out of
//! scope; the version check still catches most such races).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use tokio::sync::OwnedMutexGuard;

/// One lock per file being saved; a file's lock is dropped from the map when nobody
/// holds or waits for it.
static LOCKS: LazyLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

/// Holds the save lock of a file until dropped.
pub(super) struct FileLock {
    place: PathBuf,
    guard: Option<OwnedMutexGuard<()>>,
}

/// Waits for the save lock of the file at `place`.
pub(super) async fn lock(place: &Path) -> FileLock {
    let mutex = {
        let mut locks = LOCKS.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(place.to_path_buf()).or_default().clone()
    };
    FileLock {
        place: place.to_path_buf(),
        guard: Some(mutex.lock_owned().await),
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        self.guard.take();
        let mut locks = LOCKS.lock().unwrap_or_else(|e| e.into_inner());
        if locks
            .get(&self.place)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            locks.remove(&self.place);
        }
    }
}

/// Writes `bytes` as the file at `place`, all or nothing: replacing it when `replace`,
/// else only when there is no file there (`AlreadyExists` otherwise). The file keeps its
/// permissions; a new one is readable by all, writable by its owner.
pub(super) fn write_atomically(place: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    let folder = place.parent().unwrap_or(Path::new("."));
    let name = place
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut temporary = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".saving")
        .tempfile_in(folder)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let permissions = std::fs::metadata(place)
            .map(|m| m.permissions())
            .unwrap_or_else(|_| std::fs::Permissions::from_mode(0o644));
        temporary.as_file().set_permissions(permissions)?;
    }
    temporary.write_all(bytes)?;
    temporary.as_file().sync_all()?;
    let kept = if replace {
        temporary.persist(place)
    } else {
        temporary.persist_noclobber(place)
    };
    kept.map_err(|e| e.error)?;
    std::fs::File::open(folder)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_whole_file_and_leaves_nothing_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("welcome.yaml");
        write_atomically(&file, b"id: one\n", false).unwrap();
        write_atomically(&file, b"id: two\n", true).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"id: two\n");
        let err = write_atomically(&file, b"id: three\n", false).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&file).unwrap(), b"id: two\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("welcome.yaml")]);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_keeps_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("welcome.yaml");
        std::fs::write(&file, "a").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&file, b"b", true).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[tokio::test]
    async fn a_files_lock_is_held_until_dropped_and_then_forgotten() {
        let place = PathBuf::from("/nowhere/lock-test.yaml");
        let first = lock(&place).await;
        let waiting = tokio::spawn({
            let place = place.clone();
            async move { lock(&place).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(first);
        drop(waiting.await.unwrap());
        assert!(!LOCKS.lock().unwrap().contains_key(&place));
    }
}
