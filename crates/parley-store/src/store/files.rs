//! The media store: inbound media files on a local folder, each named by the SHA-256 of
//! its bytes (`<dir>/ab/cd/abcd…`), so the same photo sent twice is one file and a name
//! says what the bytes are. A file is written to `<dir>/tmp/` while it arrives (streamed,
//! never held in memory, bounded in size), hashed on the way, checked against the hash the
//! provider declared, synced, and only then renamed into place: a reader sees a whole,
//! verified file or none. With `media.s3` the verified file is uploaded to an
//! S3-compatible bucket instead (`s3.rs`) and the folder only holds files in transit. The
//! database (`MediaDownloads`) says which messages refer to which file; this module knows
//! only files.

pub mod s3;

use base64::Engine;
use sha2::{Digest, Sha256};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use tokio::io::AsyncWriteExt;

/// A SHA-256 digest.
pub type Sha256Digest = [u8; 32];

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("the file is larger than the {limit} bytes allowed")]
    TooLarge { limit: u64 },
    #[error("the file's SHA-256 is {actual}, not the {expected} the provider declared")]
    Mismatch { expected: String, actual: String },
    #[error("the media folder could not be written: {0}")]
    Io(#[from] io::Error),
}

/// A file now in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// Lowercase hex: the file's name.
    pub sha256: String,
    pub size: u64,
}

/// Reads a SHA-256 the way providers write it: 64 hex digits (Meta's media URL answer) or
/// base64 of the 32 bytes (Meta's webhooks), standard or URL-safe, padded or not.
pub fn decode_sha256(text: &str) -> Option<Sha256Digest> {
    let text = text.trim();
    if text.len() == 64 {
        if let Ok(bytes) = hex::decode(text) {
            return bytes.try_into().ok();
        }
    }
    let unpadded = text.trim_end_matches('=');
    [
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ]
    .iter()
    .find_map(|engine| engine.decode(unpadded).ok())
    .and_then(|bytes| bytes.try_into().ok())
}

/// Whether `text` is a file name of the store: 64 lowercase hex digits.
pub fn is_sha256_name(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[derive(Debug, Clone)]
pub struct MediaFiles {
    dir: PathBuf,
    /// Where finished files go instead of `dir`, when set.
    remote: Option<s3::S3>,
}

/// A stored file's bytes, to be read in chunks.
pub enum MediaBytes {
    File(tokio::fs::File),
    Remote(reqwest::Response),
}

impl MediaFiles {
    /// The store in `dir`; nothing is created until the first file arrives.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            remote: None,
        }
    }

    /// The store `media:` describes: `media.dir`, or the `media.s3` bucket with `media.dir`
    /// for files in transit.
    pub fn configured(config: &crate::config::MediaConfig) -> Result<Self, String> {
        let mut files = Self::new(&config.dir);
        if let Some(s3) = &config.s3 {
            let http = reqwest::Client::builder()
                // Per read, not for the whole request: serving a large object to a slow
                // client must not be cut off after `download_timeout`.
                .read_timeout(config.download_timeout)
                .connect_timeout(std::time::Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| format!("media.s3: {e}"))?;
            files.remote = Some(s3::S3::new(http, s3)?);
        }
        Ok(files)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the file named `sha256` lives; `None` for a name that is not 64 hex digits
    /// (so no request can name a path of its own).
    pub fn path_of(&self, sha256: &str) -> Option<PathBuf> {
        is_sha256_name(sha256).then(|| self.dir.join(&sha256[..2]).join(&sha256[2..4]).join(sha256))
    }

    /// Starts a file of at most `limit` bytes.
    pub async fn create(&self, limit: u64) -> Result<FileWriter, FileError> {
        let tmp_dir = self.dir.join("tmp");
        tokio::fs::create_dir_all(&tmp_dir).await?;
        let tmp = tmp_dir.join(format!("{}.part", uuid::Uuid::new_v4().simple()));
        let file = tokio::fs::File::create(&tmp).await?;
        Ok(FileWriter {
            files: self.clone(),
            file: Some(file),
            tmp,
            hasher: Sha256::new(),
            written: 0,
            limit,
        })
    }

    /// Stores `bytes` at once (the sandbox's uploads, which are small and already in
    /// memory).
    pub async fn put(
        &self,
        bytes: &[u8],
        limit: u64,
        expected: Option<&Sha256Digest>,
    ) -> Result<StoredFile, FileError> {
        let mut writer = self.create(limit).await?;
        writer.write(bytes).await?;
        writer.finish(expected).await
    }

    /// The file named `sha256` and its length, if the store has it.
    pub async fn open(&self, sha256: &str) -> io::Result<Option<(MediaBytes, u64)>> {
        let Some(path) = self.path_of(sha256) else {
            return Ok(None);
        };
        if let Some(remote) = &self.remote {
            return Ok(remote
                .get(sha256)
                .await?
                .map(|(response, len)| (MediaBytes::Remote(response), len)));
        }
        match tokio::fs::File::open(&path).await {
            Ok(file) => {
                let len = file.metadata().await?.len();
                Ok(Some((MediaBytes::File(file), len)))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn contains(&self, sha256: &str) -> bool {
        match (self.path_of(sha256), &self.remote) {
            (Some(_), Some(remote)) => remote.modified(sha256).await.is_ok_and(|m| m.is_some()),
            (Some(path), None) => tokio::fs::try_exists(path).await.unwrap_or(false),
            (None, _) => false,
        }
    }

    /// Deletes the file named `sha256` if it was written before `cutoff`. A file written
    /// since (the same bytes arrived again in a newer message, whose row may not be
    /// recorded yet) stays. Returns whether a file was deleted.
    pub async fn remove_if_older(&self, sha256: &str, cutoff: SystemTime) -> io::Result<bool> {
        let Some(path) = self.path_of(sha256) else {
            return Ok(false);
        };
        if let Some(remote) = &self.remote {
            return match remote.modified(sha256).await? {
                Some(modified) if modified < cutoff => remote.delete(sha256).await.map(|()| true),
                _ => Ok(false),
            };
        }
        let modified = match tokio::fs::metadata(&path).await {
            Ok(meta) => meta.modified()?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        if modified >= cutoff {
            return Ok(false);
        }
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl MediaFiles {
    /// Deletes the temporary files (`tmp/*.part`) last written before `cutoff`: those of
    /// downloads a killed process left half-written (a finished or failed download removes
    /// its own). Returns how many went.
    pub async fn remove_stale_parts(&self, cutoff: SystemTime) -> io::Result<u64> {
        let mut entries = match tokio::fs::read_dir(self.dir.join("tmp")).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        while let Some(entry) = entries.next_entry().await? {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "part") {
                continue;
            }
            let stale = entry
                .metadata()
                .await
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified < cutoff);
            if stale && tokio::fs::remove_file(&path).await.is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A file being written: hashed and counted as it arrives, removed unless `finish`ed.
pub struct FileWriter {
    files: MediaFiles,
    file: Option<tokio::fs::File>,
    tmp: PathBuf,
    hasher: Sha256,
    written: u64,
    limit: u64,
}

impl FileWriter {
    /// Appends a chunk; refuses (and the file is dropped) once past the limit.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), FileError> {
        let written = self.written + chunk.len() as u64;
        if written > self.limit {
            return Err(FileError::TooLarge { limit: self.limit });
        }
        let file = self.file.as_mut().ok_or_else(closed)?;
        file.write_all(chunk).await?;
        self.hasher.update(chunk);
        self.written = written;
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// Checks the hash against `expected` (when the provider declared one), syncs the
    /// file and renames it into place under its hash.
    pub async fn finish(
        mut self,
        expected: Option<&Sha256Digest>,
    ) -> Result<StoredFile, FileError> {
        let digest: Sha256Digest = std::mem::take(&mut self.hasher).finalize().into();
        let sha256 = hex::encode(digest);
        if let Some(expected) = expected {
            if expected != &digest {
                return Err(FileError::Mismatch {
                    expected: hex::encode(expected),
                    actual: sha256,
                });
            }
        }
        let mut file = self.file.take().ok_or_else(closed)?;
        file.flush().await?;
        file.sync_all().await?;
        drop(file);
        if let Some(remote) = &self.files.remote {
            // The temporary file is removed when `self` drops.
            remote
                .put_file(&sha256, &self.tmp, self.written, &sha256)
                .await?;
            return Ok(StoredFile {
                sha256,
                size: self.written,
            });
        }
        let path = self.files.path_of(&sha256).ok_or_else(closed)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::rename(&self.tmp, &path).await?;
        // The rename is durable once its folder is synced (best effort: not every
        // filesystem lets a folder be opened for that).
        if let Some(parent) = path.parent() {
            if let Ok(dir) = tokio::fs::File::open(parent).await {
                let _ = dir.sync_all().await;
            }
        }
        self.tmp = PathBuf::new();
        Ok(StoredFile {
            sha256,
            size: self.written,
        })
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn closed() -> FileError {
    FileError::Io(io::Error::other("the file was already finished"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(bytes: &[u8]) -> Sha256Digest {
        Sha256::digest(bytes).into()
    }

    fn parts(dir: &Path) -> usize {
        std::fs::read_dir(dir.join("tmp"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// A half-written download a killed process left behind goes once it is older than the
    /// cutoff; one still being written (newer) stays, as do other files.
    #[tokio::test]
    async fn stale_temporary_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let files = MediaFiles::new(dir.path());
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::write(tmp.join("old.part"), b"half").unwrap();
        std::fs::write(tmp.join("note.txt"), b"not a download").unwrap();
        let cutoff = SystemTime::now() + std::time::Duration::from_secs(5);
        assert_eq!(files.remove_stale_parts(cutoff).await.unwrap(), 1);
        assert!(!tmp.join("old.part").exists() && tmp.join("note.txt").exists());
        std::fs::write(tmp.join("new.part"), b"arriving").unwrap();
        let past = SystemTime::now() - std::time::Duration::from_secs(3600);
        assert_eq!(files.remove_stale_parts(past).await.unwrap(), 0);
        assert_eq!(parts(dir.path()), 2);
        assert_eq!(
            MediaFiles::new(dir.path().join("none"))
                .remove_stale_parts(cutoff)
                .await
                .unwrap(),
            0
        );
    }

    #[test]
    fn sha256_is_read_as_hex_or_base64() {
        let d = digest(b"photo");
        let hex_form = hex::encode(d);
        let b64 = base64::engine::general_purpose::STANDARD.encode(d);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d);
        assert_eq!(decode_sha256(&hex_form), Some(d));
        assert_eq!(decode_sha256(&hex_form.to_uppercase()), Some(d));
        assert_eq!(decode_sha256(&b64), Some(d));
        assert_eq!(decode_sha256(&url), Some(d));
        // Meta's webhook fixture form: 44 characters of base64.
        assert!(decode_sha256("CyjIldvknK1UBHfZ5X/nRGbmZa0aqCjYFD16Id/wzx8=").is_some());
        assert_eq!(decode_sha256("IMAGE_HASH"), None);
        assert_eq!(decode_sha256(""), None);
        assert_eq!(decode_sha256(&hex_form[..62]), None);
    }

    #[test]
    fn only_hex_names_become_paths() {
        let files = MediaFiles::new("/m");
        let name = hex::encode(digest(b"x"));
        assert_eq!(
            files.path_of(&name).unwrap(),
            Path::new("/m")
                .join(&name[..2])
                .join(&name[2..4])
                .join(&name)
        );
        for bad in [
            "../../etc/passwd",
            "",
            &name.to_uppercase(),
            &format!("{name}/.."),
        ] {
            assert_eq!(files.path_of(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_file_is_stored_under_its_hash_after_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let files = MediaFiles::new(dir.path());
        let mut w = files.create(1024).await.unwrap();
        w.write(b"hello ").await.unwrap();
        // Nothing under its name while it is being written.
        let name = hex::encode(digest(b"hello world"));
        assert!(!files.contains(&name).await);
        w.write(b"world").await.unwrap();
        let stored = w.finish(Some(&digest(b"hello world"))).await.unwrap();
        assert_eq!(
            stored,
            StoredFile {
                sha256: name.clone(),
                size: 11
            }
        );
        let (_, len) = files.open(&name).await.unwrap().unwrap();
        assert_eq!(len, 11);
        assert_eq!(len, 11);
        assert_eq!(
            std::fs::read(files.path_of(&name).unwrap()).unwrap(),
            b"hello world"
        );
        assert_eq!(parts(dir.path()), 0, "the temporary file was renamed");
    }

    #[tokio::test]
    async fn a_hash_mismatch_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let files = MediaFiles::new(dir.path());
        let err = files
            .put(b"tampered", 1024, Some(&digest(b"original")))
            .await
            .unwrap_err();
        assert!(matches!(err, FileError::Mismatch { .. }), "{err}");
        assert!(err.to_string().contains(&hex::encode(digest(b"original"))));
        assert!(!files.contains(&hex::encode(digest(b"tampered"))).await);
        assert_eq!(parts(dir.path()), 0, "the temporary file is removed");
    }

    #[tokio::test]
    async fn a_file_past_the_limit_is_refused_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let files = MediaFiles::new(dir.path());
        let mut w = files.create(10).await.unwrap();
        w.write(b"0123456789").await.unwrap();
        let err = w.write(b"!").await.unwrap_err();
        assert!(matches!(err, FileError::TooLarge { limit: 10 }), "{err}");
        drop(w);
        assert_eq!(parts(dir.path()), 0);
        // Exactly at the limit is fine.
        assert!(files.put(b"0123456789", 10, None).await.is_ok());
    }

    #[tokio::test]
    async fn an_abandoned_write_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = MediaFiles::new(dir.path());
        let mut w = files.create(1024).await.unwrap();
        w.write(b"half a pho").await.unwrap();
        assert_eq!(parts(dir.path()), 1);
        drop(w); // the connection broke: the download is retried from scratch
        assert_eq!(parts(dir.path()), 0);
    }

    #[tokio::test]
    async fn only_files_older_than_the_cutoff_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let files = MediaFiles::new(dir.path());
        let stored = files.put(b"old photo", 1024, None).await.unwrap();
        let before = SystemTime::now() - std::time::Duration::from_secs(3600);
        assert!(!files.remove_if_older(&stored.sha256, before).await.unwrap());
        assert!(files.contains(&stored.sha256).await);
        let after = SystemTime::now() + std::time::Duration::from_secs(1);
        assert!(files.remove_if_older(&stored.sha256, after).await.unwrap());
        assert!(!files.contains(&stored.sha256).await);
        assert!(!files.remove_if_older(&stored.sha256, after).await.unwrap());
    }
}
