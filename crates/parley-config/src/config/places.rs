//! The folders the config names that Parley writes into: the SQLite database's folder
//! (`database.url`) and the media folder (`media.dir`). `parley check` and the start look
//! at them, so a folder that is missing and cannot be made, or that Parley may not write
//! (a project mounted read-only, a service user without rights), is named with its setting
//! before the first webhook or the first customer photo finds out.

use super::Config;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why files could not be made in `dir`: `None` when they can. A folder that does not
/// exist yet is judged by the nearest folder above it, where Parley would create it.
pub fn unwritable(dir: &Path) -> Option<String> {
    let mut at: PathBuf = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_path_buf()
    };
    loop {
        match std::fs::metadata(&at) {
            Ok(m) if !m.is_dir() => {
                return Some(format!("{} is a file, not a folder", at.display()));
            }
            Ok(_) => break,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                match at.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => at = parent.to_path_buf(),
                    _ => at = PathBuf::from("."),
                }
            }
            Err(e) => return Some(format!("{} cannot be read: {e}", at.display())),
        }
    }
    let c = CString::new(at.as_os_str().as_bytes()).ok()?;
    // SAFETY: access(2) reads a NUL-terminated path and touches no memory of ours.
    let ok = unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } == 0;
    if ok {
        return None;
    }
    let why = std::io::Error::last_os_error();
    Some(if at == dir {
        format!("{} cannot be written: {why}", at.display())
    } else {
        format!(
            "{} does not exist and cannot be created in {}: {why}",
            dir.display(),
            at.display()
        )
    })
}

/// The SQLite file a `database.url` names, if it names one on disk.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next().unwrap_or_default();
    let in_memory = file.is_empty() || file.contains(":memory:") || rest.contains("mode=memory");
    (!in_memory).then(|| PathBuf::from(file))
}

/// The folders of `config` Parley could not write, each as a problem naming its setting
/// and what to do.
pub fn problems(config: &Config) -> Vec<String> {
    let database = sqlite_file(&config.database.url).and_then(|file| {
        let folder = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        unwritable(&folder).map(|why| database_problem(&why))
    });
    database.into_iter().chain(media(config)).collect()
}

/// The media folder's problem, if it has one.
pub fn media(config: &Config) -> Option<String> {
    unwritable(Path::new(&config.media.dir)).map(|why| {
        format!(
            "media.dir: the folder for customers' media {why}; set media.dir to a folder Parley's user can write (e.g. /var/lib/parley/media)"
        )
    })
}

/// A problem of the SQLite file's folder (`why`: what `unwritable` says of it).
pub fn database_problem(why: &str) -> String {
    format!(
        "database.url: the SQLite file's folder {why}; point database.url at a folder Parley's user can write (e.g. sqlite:///var/lib/parley/parley.db)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Root may write anywhere: the read-only cases can only be seen as another user.
    fn is_root() -> bool {
        // SAFETY: geteuid(2) has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn a_folder_is_writable_or_says_why_not() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(unwritable(dir.path()), None);
        // Missing, under a writable folder: it will be created.
        assert_eq!(unwritable(&dir.path().join("a/b")), None);
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let why = unwritable(&file.join("media")).unwrap();
        assert!(why.ends_with("f is a file, not a folder"), "{why}");
        if !is_root() {
            let ro = dir.path().join("ro");
            std::fs::create_dir(&ro).unwrap();
            std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
            let why = unwritable(&ro.join("media")).unwrap();
            assert!(
                why.contains("does not exist and cannot be created in"),
                "{why}"
            );
            assert!(unwritable(&ro).unwrap().contains("cannot be written"));
        }
    }

    #[test]
    fn the_sqlite_file_is_read_from_the_url() {
        assert_eq!(
            sqlite_file("sqlite://data/parley.db?mode=rwc"),
            Some(PathBuf::from("data/parley.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:parley.db"),
            Some(PathBuf::from("parley.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://root@127.0.0.1/test"), None);
    }

    #[test]
    fn the_config_names_the_setting_of_a_folder_it_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("taken");
        std::fs::write(&file, "x").unwrap();
        let mut config = Config::embedded_default();
        config.database.url = format!("sqlite://{}/parley.db", file.display());
        config.media.dir = file.join("media").display().to_string();
        let problems = problems(&config);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("database.url: the SQLite file's folder "),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("media.dir: the folder for customers' media "),
            "{problems:?}"
        );
        config.database.url = format!("sqlite://{}/db/parley.db", dir.path().display());
        config.media.dir = dir.path().join("media").display().to_string();
        assert!(super::problems(&config).is_empty());
    }
}
