//! `parley backup OUT`: an online copy of the configured database, SQLite (`VACUUM INTO`,
//! `store::sqlite::backup`) or PostgreSQL (`pg_dump --format=custom`).
//!
//! A backup holds customers' conversations, and a nightly one must never cost the last
//! good copy. So OUT appears whole or not at all: the copy is written to a hidden file
//! beside it (`.OUT.partial-<pid>`), created owner-only (0600), synced, and only then given
//! OUT's name, by a hard link that fails rather than replace a file that appeared meanwhile.
//! A failed copy is removed. An OUT that already exists is refused before anything runs.

use crate::store::sqlite::backup::{self as sqlite, CopyError};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why `parley backup` wrote no backup.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{} already exists; Parley does not overwrite a backup", .0.display())]
    Exists(PathBuf),
    /// The SQLite database in the config cannot be found or opened; nothing was written.
    #[error(transparent)]
    Database(CopyError),
    #[error("the backup could not be written to {}: {why}", out.display())]
    NotWritten { out: PathBuf, why: NotWritten },
}

/// What stopped a backup once it had started writing.
#[derive(Debug, thiserror::Error)]
pub enum NotWritten {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Sqlite(CopyError),
    #[error("cannot run pg_dump (install the PostgreSQL client tools): {0}")]
    NoPgDump(io::Error),
    #[error("pg_dump failed ({status}): {stderr}")]
    PgDump { status: String, stderr: String },
}

/// A backup that was written.
#[derive(Debug)]
pub enum Backup {
    Sqlite { database: PathBuf, bytes: u64 },
    Postgres,
}

/// Copies the database at `url` to `out`, which must not exist.
pub fn run(url: &str, out: &Path) -> Result<Backup, BackupError> {
    // `symlink_metadata`: a dangling symlink is a name taken too.
    if out.symlink_metadata().is_ok() {
        return Err(BackupError::Exists(out.to_path_buf()));
    }
    let not_written = |why: NotWritten| BackupError::NotWritten {
        out: out.to_path_buf(),
        why,
    };
    if url.starts_with("sqlite:") {
        let database = sqlite::database_file(url).map_err(BackupError::Database)?;
        let partial = Partial::beside(out).map_err(|e| not_written(e.into()))?;
        sqlite::copy_into(&database, partial.path()).map_err(|e| {
            if e.is_in_the_copy() {
                not_written(NotWritten::Sqlite(e))
            } else {
                BackupError::Database(e)
            }
        })?;
        partial.publish(out)?;
        let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
        return Ok(Backup::Sqlite { database, bytes });
    }
    let partial = Partial::beside(out).map_err(|e| not_written(e.into()))?;
    pg_dump(url, partial.path()).map_err(not_written)?;
    partial.publish(out)?;
    Ok(Backup::Postgres)
}

/// pg_dump takes a consistent snapshot without stopping anyone. It writes into the file
/// that is there (truncating it), so the file keeps the mode it was created with.
fn pg_dump(url: &str, into: &Path) -> Result<(), NotWritten> {
    let output = Command::new("pg_dump")
        .args(["--format=custom", "--no-owner", "--file"])
        .arg(into)
        .arg("--dbname")
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .map_err(NotWritten::NoPgDump)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(NotWritten::PgDump {
            status: output.status.to_string(),
            stderr: stderr.trim().to_string(),
        });
    }
    // Its warnings, if any, are still the operator's to read.
    eprint!("{stderr}");
    Ok(())
}

/// The hidden file a backup is written to before it gets its name; removed when dropped
/// (after `publish` there is nothing left to remove).
#[derive(Debug)]
struct Partial {
    path: PathBuf,
}

impl Partial {
    /// Creates `.NAME.partial-<pid>` in `out`'s folder, empty and owner-only: on the same
    /// file system as `out`, so it can become `out` without copying.
    fn beside(out: &Path) -> io::Result<Self> {
        let name = out
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
        let mut partial = std::ffi::OsString::from(".");
        partial.push(name);
        partial.push(format!(".partial-{}", std::process::id()));
        let path = out.with_file_name(partial);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&path).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
        })?;
        Ok(Self { path })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Gives the finished copy the name `out`, never replacing a file of that name.
    fn publish(self, out: &Path) -> Result<(), BackupError> {
        let not_written = |e: io::Error| BackupError::NotWritten {
            out: out.to_path_buf(),
            why: e.into(),
        };
        // Owner-only even if the writer replaced the file instead of writing into it; and
        // on disk before the name says it is a backup.
        #[cfg(unix)]
        std::fs::set_permissions(
            &self.path,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .map_err(not_written)?;
        File::open(&self.path)
            .and_then(|f| f.sync_all())
            .map_err(not_written)?;
        match std::fs::hard_link(&self.path, out) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(BackupError::Exists(out.to_path_buf()));
            }
            // A file system without hard links: check, then rename (a file created in
            // between would be replaced; nothing better is portable).
            Err(_) => {
                if out.symlink_metadata().is_ok() {
                    return Err(BackupError::Exists(out.to_path_buf()));
                }
                std::fs::rename(&self.path, out).map_err(not_written)?;
            }
        }
        // The new name on disk too; a folder that cannot be synced is no reason to fail.
        let folder = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let _ = File::open(folder).and_then(|f| f.sync_all());
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn write(path: &Path, bytes: &[u8]) {
        OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
    }

    #[test]
    fn backup_publish_gives_the_copy_its_name_owner_only_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nightly.db");
        let partial = Partial::beside(&out).unwrap();
        assert_eq!(
            partial.path().file_name().unwrap().to_string_lossy(),
            format!(".nightly.db.partial-{}", std::process::id())
        );
        write(partial.path(), b"copy");
        partial.publish(&out).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"copy");
        assert_eq!(names(dir.path()), ["nightly.db"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn backup_publish_does_not_replace_a_file_that_appeared_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nightly.db");
        let partial = Partial::beside(&out).unwrap();
        write(partial.path(), b"new copy");
        std::fs::write(&out, b"yesterday").unwrap();
        let e = partial.publish(&out).unwrap_err();
        assert!(matches!(e, BackupError::Exists(_)), "{e}");
        assert_eq!(std::fs::read(&out).unwrap(), b"yesterday");
        assert_eq!(names(dir.path()), ["nightly.db"]);
    }

    #[test]
    fn backup_partial_file_is_removed_when_the_copy_fails() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nightly.db");
        let partial = Partial::beside(&out).unwrap();
        write(partial.path(), b"half a cop");
        drop(partial);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn backup_into_a_missing_folder_says_it_could_not_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("no such folder").join("nightly.db");
        let url = format!("sqlite://{}", dir.path().join("parley.db").display());
        let e = run(&url, &out).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "the backup could not be written to {}: cannot create",
                out.display()
            )),
            "{e}"
        );
    }
}
