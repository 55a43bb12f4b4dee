//! The archive in the bucket of `media.s3` (`retention.to: bucket`): each file the pass
//! wrote in the folder is uploaded (streamed, its SHA-256 the signed payload hash, so the
//! store checks the bytes) before its rows are deleted; `parley archive` downloads what it
//! reads into a temporary folder laid out as the local archive, bounded as the local reader
//! is, and reads it with the same reader.

use super::archive::{parse_key, Archive, MAX_GZIP_BYTES};
use crate::store::files::s3::S3;
use crate::store::HistoryKind;
use chrono::NaiveDate;
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Uploads the files at `paths` (written in `archive`'s folder) to its bucket.
pub async fn upload(archive: &Archive, bucket: &S3, paths: &[PathBuf]) -> io::Result<()> {
    for path in paths {
        let key = archive.key_of(path).ok_or_else(|| {
            io::Error::other(format!("{} is not a file of the archive", path.display()))
        })?;
        let file = path.clone();
        let (len, sha256) = tokio::task::spawn_blocking(move || digest(&file))
            .await
            .map_err(io::Error::other)??;
        bucket.put_file(&key, path, len, &sha256).await?;
    }
    Ok(())
}

/// The length and SHA-256 (hex) of the file at `path`.
fn digest(path: &Path) -> io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 64 * 1024];
    let mut len = 0;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((len, hex::encode(hasher.finalize())));
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
}

/// Removes the local copies of files the bucket has (or that will be written again): a
/// file already gone is fine.
pub fn remove_local(paths: &[PathBuf]) {
    for path in paths {
        if let Err(e) = std::fs::remove_file(path) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(
                    "retention: cannot remove the archive's local copy {}: {e}",
                    path.display()
                );
            }
        }
    }
}

/// Downloads the bucket's archive files that `keep` accepts (by kind and day) into `into`,
/// laid out as a local archive (`<kind>/<day>/<name>`); the number of files.
pub async fn download(
    bucket: &S3,
    into: &Path,
    keep: impl Fn(HistoryKind, NaiveDate) -> bool,
) -> io::Result<usize> {
    let objects = bucket.list(super::archive::BUCKET_PREFIX).await?;
    let mut n = 0;
    for object in objects {
        let Some((kind, day, name)) = parse_key(&object.key) else {
            continue;
        };
        if !keep(kind, day) {
            continue;
        }
        if object.size > MAX_GZIP_BYTES {
            return Err(too_large(&object.key));
        }
        let folder = into.join(kind.name()).join(day.to_string());
        std::fs::create_dir_all(&folder)?;
        let Some((mut response, _)) = bucket.get(&object.key).await? else {
            // Listed, then gone (deleted meanwhile): nothing to read.
            continue;
        };
        let mut file = std::fs::File::create(folder.join(name))?;
        let mut written: u64 = 0;
        while let Some(chunk) = response.chunk().await.map_err(io::Error::other)? {
            written += chunk.len() as u64;
            if written > MAX_GZIP_BYTES {
                return Err(too_large(&object.key));
            }
            file.write_all(&chunk)?;
        }
        n += 1;
    }
    Ok(n)
}

fn too_large(key: &str) -> io::Error {
    io::Error::other(format!(
        "{key}: is more than the {MAX_GZIP_BYTES} bytes an archive file may be; the object is not one Parley wrote: move it out of the bucket's archive/"
    ))
}
