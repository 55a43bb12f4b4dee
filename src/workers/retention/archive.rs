//! The archive's files: history as gzip-compressed JSON lines, one folder per kind and per
//! UTC day, `<dir>/<kind>/<YYYY-MM-DD>/<first id>-<last id>.jsonl.gz`. A file is named by the
//! rows it holds, so writing the same batch again (a process killed between the write and
//! the delete) replaces it rather than adding a copy; a file is complete or absent (written
//! beside, flushed to disk, then renamed, and the folder flushed). Reading is bounded: a
//! file too large, a line too long or a corrupt gzip stream is an error that names the
//! file. Readers take each (kind, id) once, so rows archived twice (after a restore) are
//! read once. With `retention.to: bucket` the same files are uploaded to the bucket of
//! `media.s3` under `archive/<kind>/<YYYY-MM-DD>/<name>` (`super::bucket`), the folder then
//! holding each only until it is uploaded.

use crate::store::files::s3::S3;
use crate::store::{HistoryKind, HistoryRow};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};

/// The most bytes one archive file may hold uncompressed (a gzip bomb stops here).
pub const MAX_FILE_BYTES: u64 = 1 << 30;
/// The most bytes of one line (one row).
pub const MAX_LINE_BYTES: usize = 32 << 20;
/// The most bytes of one compressed file read.
pub const MAX_GZIP_BYTES: u64 = 256 << 20;

/// One archived row as a line of a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub kind: String,
    pub id: i64,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    pub row: Value,
}

impl Record {
    pub fn of(kind: HistoryKind, row: &HistoryRow) -> Self {
        Record {
            kind: kind.name().to_string(),
            id: row.id,
            at: row.at,
            contact: row.contact.clone(),
            row: row.row.clone(),
        }
    }
}

/// One file of the archive.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ArchiveFile {
    pub kind: HistoryKind,
    pub day: NaiveDate,
    pub path: PathBuf,
}

/// Why an archive file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: cannot be read: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: {what}; the file is damaged or not one Parley wrote: move it out of the archive folder")]
    Bad { path: String, what: String },
}

/// The key prefix of the archive in a bucket (after `media.s3.prefix`).
pub const BUCKET_PREFIX: &str = "archive/";

/// A local archive folder, and the bucket its files go to when there is one.
#[derive(Debug, Clone)]
pub struct Archive {
    dir: PathBuf,
    bucket: Option<S3>,
}

impl Archive {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            bucket: None,
        }
    }

    /// An archive kept in `bucket`, its files written in `dir` until they are uploaded.
    pub fn in_bucket(dir: impl Into<PathBuf>, bucket: S3) -> Self {
        Self {
            dir: dir.into(),
            bucket: Some(bucket),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn bucket(&self) -> Option<&S3> {
        self.bucket.as_ref()
    }

    /// The bucket key of a file written in this archive's folder:
    /// `archive/<kind>/<day>/<name>`.
    pub fn key_of(&self, path: &Path) -> Option<String> {
        let relative = path.strip_prefix(&self.dir).ok()?;
        let parts: Vec<&str> = relative
            .components()
            .map(|c| c.as_os_str().to_str())
            .collect::<Option<_>>()?;
        (parts.len() == 3).then(|| format!("{BUCKET_PREFIX}{}", parts.join("/")))
    }

    /// Writes a batch of `kind`'s rows (by id), one file per day, each flushed to disk
    /// before this returns; the files written.
    pub fn write_batch(&self, kind: HistoryKind, rows: &[HistoryRow]) -> io::Result<Vec<PathBuf>> {
        let mut days: BTreeMap<NaiveDate, Vec<&HistoryRow>> = BTreeMap::new();
        for row in rows {
            days.entry(row.at.date_naive()).or_default().push(row);
        }
        let mut written = Vec::new();
        for (day, rows) in days {
            let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
                continue;
            };
            let folder = self.dir.join(kind.name()).join(day.to_string());
            std::fs::create_dir_all(&folder)?;
            let name = format!("{:012}-{:012}.jsonl.gz", first.id, last.id);
            let path = folder.join(&name);
            let part = folder.join(format!("{name}.part"));
            let file = std::fs::File::create(&part)?;
            let mut gz = flate2::write::GzEncoder::new(
                io::BufWriter::new(file),
                flate2::Compression::default(),
            );
            for row in &rows {
                serde_json::to_writer(&mut gz, &Record::of(kind, row))?;
                gz.write_all(b"\n")?;
            }
            let file = gz.finish()?.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&part, &path)?;
            std::fs::File::open(&folder)?.sync_all()?;
            written.push(path);
        }
        Ok(written)
    }

    /// Every file of the archive, by kind, day and name; a missing folder is an empty
    /// archive.
    pub fn files(&self) -> io::Result<Vec<ArchiveFile>> {
        let mut files = Vec::new();
        for kind in HistoryKind::ALL {
            let kind_dir = self.dir.join(kind.name());
            for day_dir in entries(&kind_dir)? {
                let Some(day) = day_dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.parse::<NaiveDate>().ok())
                else {
                    continue;
                };
                for path in entries(&day_dir)? {
                    if path.to_string_lossy().ends_with(".jsonl.gz") {
                        files.push(ArchiveFile { kind, day, path });
                    }
                }
            }
        }
        files.sort();
        Ok(files)
    }

    /// The records of `files` that `keep` accepts, each (kind, id) once, in file order.
    pub fn read(
        &self,
        files: &[ArchiveFile],
        mut keep: impl FnMut(&Record) -> bool,
        mut each: impl FnMut(Record) -> Result<(), ReadError>,
    ) -> Result<u64, ReadError> {
        let mut seen: HashSet<(String, i64)> = HashSet::new();
        let mut n = 0;
        for file in files {
            read_file(&file.path, |record| {
                if keep(&record) && seen.insert((record.kind.clone(), record.id)) {
                    n += 1;
                    each(record)?;
                }
                Ok(())
            })?;
        }
        Ok(n)
    }
}

/// The kind, day and file name of a bucket key `archive/<kind>/<YYYY-MM-DD>/<name>.jsonl.gz`;
/// `None` for any other key (so a key cannot name a path of its own).
pub fn parse_key(key: &str) -> Option<(HistoryKind, NaiveDate, &str)> {
    let mut parts = key.strip_prefix(BUCKET_PREFIX)?.split('/');
    let (kind, day, name) = (parts.next()?, parts.next()?, parts.next()?);
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let good_name =
        name.ends_with(".jsonl.gz") && !name.starts_with('.') && name.chars().all(plain);
    (parts.next().is_none() && good_name).then_some(())?;
    Some((HistoryKind::parse(kind)?, day.parse().ok()?, name))
}

/// The entries of a folder, sorted; a missing folder has none.
fn entries(dir: &Path) -> io::Result<Vec<PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(read) => {
            let mut paths = read
                .map(|e| e.map(|e| e.path()))
                .collect::<io::Result<Vec<_>>>()?;
            paths.sort();
            Ok(paths)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Reads one file's records, bounded (`MAX_GZIP_BYTES`, `MAX_FILE_BYTES`, `MAX_LINE_BYTES`).
pub fn read_file(
    path: &Path,
    mut each: impl FnMut(Record) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let name = path.display().to_string();
    let io_error = |source| ReadError::Io {
        path: name.clone(),
        source,
    };
    let bad = |what: String| ReadError::Bad {
        path: name.clone(),
        what,
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let size = file.metadata().map_err(io_error)?.len();
    if size > MAX_GZIP_BYTES {
        return Err(bad(format!(
            "is {size} bytes, more than the {MAX_GZIP_BYTES} an archive file may be"
        )));
    }
    let gz = flate2::read::GzDecoder::new(io::BufReader::new(file));
    let mut lines = io::BufReader::new(gz.take(MAX_FILE_BYTES + 1));
    let mut line = Vec::new();
    let mut total: u64 = 0;
    let mut number = 0;
    loop {
        line.clear();
        let read = (&mut lines)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| bad(format!("is not a readable gzip stream ({e})")))?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        total += read as u64;
        if total > MAX_FILE_BYTES {
            return Err(bad(format!(
                "holds more than {MAX_FILE_BYTES} bytes uncompressed"
            )));
        }
        if line.len() > MAX_LINE_BYTES {
            return Err(bad(format!(
                "line {number} is longer than {MAX_LINE_BYTES} bytes"
            )));
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record: Record = serde_json::from_slice(&line)
            .map_err(|e| bad(format!("line {number} is not an archived row ({e})")))?;
        each(record)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(id: i64, day: u32) -> HistoryRow {
        HistoryRow {
            id,
            at: format!("2026-03-{day:02}T10:00:00Z").parse().unwrap(),
            contact: Some("+34600000001".into()),
            row: json!({ "id": id, "payload": { "text": format!("message {id}") } }),
        }
    }

    fn read_all(archive: &Archive) -> Vec<Record> {
        let files = archive.files().unwrap();
        let mut out = Vec::new();
        archive
            .read(
                &files,
                |_| true,
                |r| {
                    out.push(r);
                    Ok(())
                },
            )
            .unwrap();
        out
    }

    #[test]
    fn a_batch_is_written_per_day_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::new(dir.path());
        let rows = vec![row(7, 1), row(8, 1), row(9, 2)];
        let written = archive
            .write_batch(HistoryKind::InboundMessages, &rows)
            .unwrap();
        assert_eq!(written.len(), 2);
        assert!(
            written[0].ends_with("inbound_messages/2026-03-01/000000000007-000000000008.jsonl.gz")
        );
        let files = archive.files().unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[1].day.to_string(), "2026-03-02");
        let back = read_all(&archive);
        assert_eq!(back.iter().map(|r| r.id).collect::<Vec<_>>(), vec![7, 8, 9]);
        assert_eq!(back[2].row["payload"]["text"], "message 9");
        assert_eq!(back[0].contact.as_deref(), Some("+34600000001"));
        // No `.part` file is left behind.
        assert!(
            !std::fs::read_dir(dir.path().join("inbound_messages/2026-03-01"))
                .unwrap()
                .any(|e| e.unwrap().path().to_string_lossy().ends_with(".part"))
        );
    }

    #[test]
    fn the_same_batch_written_twice_is_one_file_and_rows_are_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::new(dir.path());
        let rows = vec![row(1, 1), row(2, 1)];
        archive.write_batch(HistoryKind::Audit, &rows).unwrap();
        archive.write_batch(HistoryKind::Audit, &rows).unwrap();
        assert_eq!(archive.files().unwrap().len(), 1);
        // A batch that overlaps an earlier one (rows archived again after a restore).
        archive
            .write_batch(HistoryKind::Audit, &[row(2, 1), row(3, 1)])
            .unwrap();
        assert_eq!(archive.files().unwrap().len(), 2);
        let ids: Vec<i64> = read_all(&archive).iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![1, 2, 3]);
    }

    #[test]
    fn bucket_keys_name_kind_day_and_file_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::new(dir.path());
        let written = archive
            .write_batch(HistoryKind::InboundMessages, &[row(7, 1)])
            .unwrap();
        let key = archive.key_of(&written[0]).unwrap();
        assert_eq!(
            key,
            "archive/inbound_messages/2026-03-01/000000000007-000000000007.jsonl.gz"
        );
        let (kind, day, name) = parse_key(&key).unwrap();
        assert_eq!(kind, HistoryKind::InboundMessages);
        assert_eq!(day.to_string(), "2026-03-01");
        assert_eq!(name, "000000000007-000000000007.jsonl.gz");
        for bad in [
            "archive/inbound_messages/2026-03-01/../../etc.jsonl.gz",
            "archive/inbound_messages/2026-03-01/x/y.jsonl.gz",
            "archive/nothing/2026-03-01/1-2.jsonl.gz",
            "archive/audit_log/yesterday/1-2.jsonl.gz",
            "archive/audit_log/2026-03-01/1-2.jsonl.gz.part",
            "media/audit_log/2026-03-01/1-2.jsonl.gz",
        ] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
        assert_eq!(archive.key_of(Path::new("/elsewhere/a/b/c")), None);
    }

    #[test]
    fn a_corrupt_or_oversized_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("events_out/2026-03-01");
        std::fs::create_dir_all(&folder).unwrap();
        let path = folder.join("1-2.jsonl.gz");
        std::fs::write(&path, b"not gzip at all").unwrap();
        let e = read_file(&path, |_| Ok(())).unwrap_err().to_string();
        assert!(
            e.contains("1-2.jsonl.gz: is not a readable gzip stream"),
            "{e}"
        );
        assert!(e.contains("move it out of the archive folder"), "{e}");

        // One line longer than a row may be, compressed to almost nothing.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b' '; MAX_LINE_BYTES + 10]).unwrap();
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        let e = read_file(&path, |_| Ok(())).unwrap_err().to_string();
        assert!(e.contains("line 1 is longer than"), "{e}");

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"{\"kind\": 3}\n").unwrap();
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        let e = read_file(&path, |_| Ok(())).unwrap_err().to_string();
        assert!(e.contains("line 1 is not an archived row"), "{e}");
    }
}
