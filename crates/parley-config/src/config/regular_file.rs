//! Opening a file Parley reads (flows, flow tests, knowledge, scripts, recordings, the
//! config, the rate card, files named on the command line) only when it is an ordinary
//! file. Reading a named pipe blocks until something writes to it, which would hang
//! `parley check` and hot reload; a directory or a device gives an OS error nobody can act
//! on. Links are followed, as everywhere else; checks of where a file may be stay with
//! the callers.

use std::fs::{File, Metadata};
use std::io;
use std::path::Path;

/// What a path names when it is not an ordinary file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRegular {
    Directory,
    NamedPipe,
    Socket,
    Device,
    Other,
}

impl NotRegular {
    fn of(meta: &Metadata) -> Option<Self> {
        let kind = meta.file_type();
        if kind.is_file() {
            return None;
        }
        if kind.is_dir() {
            return Some(Self::Directory);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if kind.is_fifo() {
                return Some(Self::NamedPipe);
            }
            if kind.is_socket() {
                return Some(Self::Socket);
            }
            if kind.is_block_device() || kind.is_char_device() {
                return Some(Self::Device);
            }
        }
        Some(Self::Other)
    }

    /// Why `subject` ("the file", "the knowledge file `a.md`") cannot be read, in words.
    pub fn describe(self, subject: &str) -> String {
        let what = match self {
            Self::Directory => return format!("{subject} is a directory, not a file"),
            Self::NamedPipe => "a named pipe",
            Self::Socket => "a socket",
            Self::Device => "a device",
            Self::Other => "not a file Parley knows",
        };
        format!("{subject} is not a regular file (it is {what}); Parley reads only ordinary files")
    }
}

/// Why a file could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The path names something other than an ordinary file.
    NotRegular(NotRegular),
    /// The system refused (missing file, no permission…).
    Io(io::Error),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotRegular(kind) => f.write_str(&kind.describe("the file")),
            Self::Io(e) => write!(f, "cannot read the file: {e}"),
        }
    }
}

impl std::error::Error for OpenError {}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// What `path` names (following links) when it exists and is not an ordinary file.
pub fn not_regular(path: &Path) -> Option<NotRegular> {
    NotRegular::of(&std::fs::metadata(path).ok()?)
}

/// Opens `path` for reading if it is an ordinary file, without ever blocking: the kind is
/// checked before opening, and — as the path may be swapped between the check and the
/// open — the file is opened non-blocking and its kind checked again on the open handle.
/// `O_NONBLOCK` changes nothing for reads of an ordinary file.
pub fn open(path: &Path) -> Result<File, OpenError> {
    if let Some(kind) = NotRegular::of(&std::fs::metadata(path)?) {
        return Err(OpenError::NotRegular(kind));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    if let Some(kind) = NotRegular::of(&file.metadata()?) {
        return Err(OpenError::NotRegular(kind));
    }
    Ok(file)
}

/// The whole text of an ordinary file (see [`open`]), for files without a size limit of
/// their own.
pub fn read_to_string(path: &Path) -> Result<String, OpenError> {
    let mut text = String::new();
    io::Read::read_to_string(&mut open(path)?, &mut text)?;
    Ok(text)
}

/// Helpers for tests of reads that must not block (this crate's and other crates' tests).
#[cfg(any(test, feature = "test-support"))]
pub mod testing {
    use std::path::Path;
    use std::time::Duration;

    /// Runs `f` on a thread and fails if it does not answer within a few seconds, so a
    /// regression (a read that blocks on a pipe) fails the test instead of hanging it.
    pub fn promptly<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(5))
            .expect("the read answered within 5 seconds instead of blocking")
    }

    #[cfg(unix)]
    pub fn mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_named_pipe_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("pipe.yaml");
        mkfifo(&pipe);
        let err = promptly(move || open(&pipe).map(|_| ()));
        match err {
            Err(OpenError::NotRegular(kind)) => assert_eq!(
                kind.describe("`pipe.yaml`"),
                "`pipe.yaml` is not a regular file (it is a named pipe); Parley reads only ordinary files"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_directory_is_refused_in_plain_words() {
        let dir = tempfile::tempdir().unwrap();
        match open(dir.path()) {
            Err(OpenError::NotRegular(kind)) => {
                assert_eq!(kind.describe("`d.md`"), "`d.md` is a directory, not a file")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_ordinary_file_and_a_link_to_one_open() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.md");
        std::fs::write(&file, "hello").unwrap();
        assert!(open(&file).is_ok());
        #[cfg(unix)]
        {
            let link = dir.path().join("link.md");
            std::os::unix::fs::symlink(&file, &link).unwrap();
            let mut text = String::new();
            io::Read::read_to_string(&mut open(&link).unwrap(), &mut text).unwrap();
            assert_eq!(text, "hello");
        }
        assert!(matches!(
            open(&dir.path().join("missing.md")),
            Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound
        ));
    }
}
