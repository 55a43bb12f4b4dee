//! Retention's archive in the bucket of `media.s3` (`retention.to: bucket`, issue 60) end
//! to end, against an S3 double that checks every request's SigV4 signature (query string
//! included) and answers ListObjectsV2 page by page: old messages are uploaded under
//! `archive/`, their rows deleted and nothing left in the folder; `parley archive read`
//! reads them back from the bucket with the same count and checksum; with the bucket down
//! the rows are kept and the next pass, the bucket back, archives them.

use crate::api::api_yaml;
use crate::helpers::*;
use crate::retention::{checksum, history, say, settled};
use parley::domain::Clock;
use parley::store::files::s3::{authorization_with_query, Signing};
use parley::store::HistoryKind;
use parley::workers::retention::archive::Record;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY_ID: &str = "AKIDARCHIVE";
const SECRET: &str = "archive-secret";
const REGION: &str = "eu-west-1";
const BUCKET: &str = "archive-bucket";
/// Keys per page of a listing, small so a listing takes several pages.
const PAGE: usize = 2;

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// An S3-compatible bucket double: keeps objects PUT with a valid SigV4 signature and the
/// body's SHA-256 as the signed payload hash; answers GET, DELETE and ListObjectsV2
/// (`PAGE` keys a page); answers 503 to everything while `down`.
#[derive(Clone, Default)]
struct Bucket {
    objects: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    down: Arc<AtomicBool>,
    puts_refused: Arc<AtomicUsize>,
    lists: Arc<AtomicUsize>,
}

impl Bucket {
    /// Whether `req` carries the signature Parley's key would give it.
    fn signed(req: &Request) -> bool {
        let header = |name: &str| {
            req.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let (date, payload) = (header("x-amz-date"), header("x-amz-content-sha256"));
        let Ok(now) = chrono::NaiveDateTime::parse_from_str(&date, "%Y%m%dT%H%M%SZ") else {
            return false;
        };
        let host = header("host");
        let expected = authorization_with_query(
            &Signing {
                key_id: KEY_ID,
                secret: SECRET,
                region: REGION,
                now: now.and_utc(),
            },
            req.method.as_str(),
            req.url.path(),
            req.url.query().unwrap_or_default(),
            &[
                ("host", host.as_str()),
                ("x-amz-content-sha256", payload.as_str()),
                ("x-amz-date", date.as_str()),
            ],
            &payload,
        );
        header("authorization") == expected
    }

    fn list(&self, req: &Request) -> ResponseTemplate {
        self.lists.fetch_add(1, Ordering::SeqCst);
        let query: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
        if query.get("list-type").map(String::as_str) != Some("2") {
            return ResponseTemplate::new(400);
        }
        let prefix = query.get("prefix").cloned().unwrap_or_default();
        let after = query.get("continuation-token").cloned().unwrap_or_default();
        let objects = self.objects.lock().unwrap();
        let keys: Vec<(String, usize)> = objects
            .iter()
            .filter_map(|(k, v)| {
                Some((k.strip_prefix(&format!("/{BUCKET}/"))?.to_string(), v.len()))
            })
            .filter(|(k, _)| k.starts_with(&prefix) && k.as_str() > after.as_str())
            .collect();
        let page = &keys[..keys.len().min(PAGE)];
        let contents: String = page
            .iter()
            .map(|(k, size)| format!("<Contents><Key>{k}</Key><Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>"))
            .collect();
        let tail = match page.last() {
            Some((last, _)) if keys.len() > PAGE => format!(
                "<IsTruncated>true</IsTruncated><NextContinuationToken>{last}</NextContinuationToken>"
            ),
            _ => "<IsTruncated>false</IsTruncated>".into(),
        };
        ResponseTemplate::new(200).set_body_string(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult><Name>{BUCKET}</Name><Prefix>{prefix}</Prefix><KeyCount>{}</KeyCount>{contents}{tail}</ListBucketResult>",
            page.len()
        ))
    }

    /// Every archived record in the bucket, by kind, from the objects' gzip JSON lines.
    fn records(&self, kind: HistoryKind) -> Vec<Record> {
        let objects = self.objects.lock().unwrap();
        let mut out = Vec::new();
        for (key, body) in objects.iter() {
            if !key.starts_with(&format!("/{BUCKET}/parley/archive/{}/", kind.name())) {
                continue;
            }
            let mut text = String::new();
            flate2::read::GzDecoder::new(body.as_slice())
                .read_to_string(&mut text)
                .unwrap();
            for line in text.lines() {
                out.push(serde_json::from_str(line).unwrap());
            }
        }
        out
    }
}

impl wiremock::Respond for Bucket {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if self.down.load(Ordering::SeqCst) {
            if req.method.as_str() == "PUT" {
                self.puts_refused.fetch_add(1, Ordering::SeqCst);
            }
            return ResponseTemplate::new(503);
        }
        if !Self::signed(req) {
            return ResponseTemplate::new(403);
        }
        let key = req.url.path().to_string();
        if req.method.as_str() == "GET" && key == format!("/{BUCKET}") {
            return self.list(req);
        }
        let mut objects = self.objects.lock().unwrap();
        match req.method.as_str() {
            "PUT" => {
                let declared = req.headers.get("x-amz-content-sha256").unwrap();
                if declared.to_str().unwrap() != sha_hex(&req.body) {
                    return ResponseTemplate::new(400);
                }
                objects.insert(key, req.body.clone());
                ResponseTemplate::new(200)
            }
            "GET" => match objects.get(&key) {
                Some(body) => ResponseTemplate::new(200).set_body_bytes(body.clone()),
                None => ResponseTemplate::new(404),
            },
            "DELETE" => {
                objects.remove(&key);
                ResponseTemplate::new(204)
            }
            _ => ResponseTemplate::new(405),
        }
    }
}

async fn bucket_double() -> (MockServer, Bucket) {
    let server = MockServer::start().await;
    let bucket = Bucket::default();
    Mock::given(wiremock::matchers::any())
        .respond_with(bucket.clone())
        .mount(&server)
        .await;
    (server, bucket)
}

/// `media:` with the double's bucket, and retention into it (every 1s, 2 rows a batch).
fn bucket_yaml(server: &MockServer, media: &Path, archive: &Path) -> String {
    format!(
        "media: {{ dir: \"{}\", s3: {{ endpoint: \"{}\", bucket: {BUCKET}, region: {REGION}, access_key_id: {KEY_ID}, secret_access_key: {SECRET}, prefix: \"parley/\" }} }}\nretention: {{ messages: 2h, interval: 1s, pause: 5ms, batch: 2, to: bucket, dir: \"{}\" }}\n",
        media.display(),
        server.uri(),
        archive.display()
    )
}

async fn app_with_bucket(server: &MockServer, media: &Path, archive: &Path) -> TestApp {
    spawn_with(Options {
        manual_clock: true,
        extra_yaml: format!(
            "{}{}",
            api_yaml(1000, 1000),
            bucket_yaml(server, media, archive)
        ),
        flows: vec![("echo.yaml", ECHO_FLOW)],
        ..Options::default()
    })
    .await
}

/// The files under `dir`, at any depth.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

async fn until_gone(app: &TestApp, kind: HistoryKind, before: chrono::DateTime<chrono::Utc>) {
    eventually(Duration::from_secs(20), "the history archived", || async {
        history(&app.store, kind, before)
            .await
            .is_empty()
            .then_some(())
    })
    .await;
}

fn archive_cli(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("archive")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("parley runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_archived_to_the_bucket_and_read_back_from_it() {
    let (server, bucket) = bucket_double().await;
    let (media, archive) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut app = app_with_bucket(&server, media.path(), archive.path()).await;
    let clock = app.clock.clone().unwrap();
    say(&app, "34600000001", "wamid.a1", "hi there", 1).await;
    say(&app, "34600000002", "wamid.b1", "hi from b", 2).await;
    say(&app, "34600000001", "wamid.a2", "hi again", 3).await;
    let cutoff = clock.now() + chrono::Duration::hours(1);
    let (inbound, outbound) = settled(&app, cutoff, 3, 3).await;
    clock.advance(chrono::Duration::hours(3));
    until_gone(&app, HistoryKind::InboundMessages, cutoff).await;
    until_gone(&app, HistoryKind::OutboundMessages, cutoff).await;

    // In the bucket, under media.s3's prefix and archive/<kind>/<day>/, the rows as they were.
    let day = clock.now().date_naive().to_string();
    let keys: Vec<String> = bucket.objects.lock().unwrap().keys().cloned().collect();
    assert!(
        keys.iter()
            .all(|k| k.starts_with(&format!("/{BUCKET}/parley/archive/"))
                && k.ends_with(".jsonl.gz")),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&format!("/{BUCKET}/parley/archive/inbound_messages/{day}/"))),
        "{keys:?}"
    );
    let stored = bucket.records(HistoryKind::InboundMessages);
    assert_eq!(
        checksum(stored.iter().map(|r| (r.id, &r.row))),
        checksum(inbound.iter().map(|r| (r.id, &r.row)))
    );
    // Nothing left in the folder: each file was removed once uploaded.
    eventually(
        Duration::from_secs(5),
        "the local copies removed",
        || async { files_under(archive.path()).is_empty().then_some(()) },
    )
    .await;

    // `parley archive` reads the bucket: by contact, the same count and checksum.
    let dir = std::mem::replace(&mut app._dir, tempfile::tempdir().unwrap());
    let db_url = format!("sqlite://{}", dir.path().join("parley.db").display());
    app.shutdown().await;
    let config = dir.path().join("archive.yaml");
    std::fs::write(
        &config,
        format!(
            "database: {{ url: \"{db_url}\" }}\n{}",
            bucket_yaml(&server, media.path(), archive.path())
        ),
    )
    .unwrap();
    let (ok, out, err) = archive_cli(&config, &["read", "--contact", "+34600000001"]);
    assert!(ok, "{err}");
    let read: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of_a: Vec<_> = inbound
        .iter()
        .chain(&outbound)
        .filter(|r| r.contact.as_deref() == Some("+34600000001"))
        .collect();
    assert_eq!(read.len(), 4, "{out}");
    assert_eq!(
        checksum(read.iter().map(|r| (r["id"].as_i64().unwrap(), &r["row"]))),
        checksum(of_a.iter().map(|r| (r.id, &r.row)))
    );
    // The listing took several pages (2 keys a page) and every request was signed.
    assert!(bucket.lists.load(Ordering::SeqCst) >= 2);
    let (ok, out, err) = archive_cli(&config, &["list"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("inbound_messages") && out.contains(&day),
        "{out}"
    );
    assert!(files_under(archive.path()).is_empty());

    // The bucket down: a plain error naming what to check, and nothing read.
    bucket.down.store(true, Ordering::SeqCst);
    let (ok, _, err) = archive_cli(&config, &["read", "--contact", "+34600000001"]);
    assert!(!ok);
    assert!(
        err.contains("cannot read the archive from the bucket archive-bucket (parley/archive/)"),
        "{err}"
    );
    assert!(err.contains("check media.s3"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_bucket_down_rows_are_kept_and_the_next_pass_archives_them() {
    let (server, bucket) = bucket_double().await;
    let (media, archive) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let app = app_with_bucket(&server, media.path(), archive.path()).await;
    bucket.down.store(true, Ordering::SeqCst);
    let clock = app.clock.clone().unwrap();
    say(&app, "34600000001", "wamid.d1", "hi one", 1).await;
    say(&app, "34600000001", "wamid.d2", "hi two", 2).await;
    say(&app, "34600000002", "wamid.d3", "hi three", 3).await;
    let cutoff = clock.now() + chrono::Duration::hours(1);
    let (inbound, outbound) = settled(&app, cutoff, 3, 3).await;
    clock.advance(chrono::Duration::hours(3));
    // Two passes (one a second) tried and failed: every row is still there.
    eventually(Duration::from_secs(20), "two uploads refused", || async {
        (bucket.puts_refused.load(Ordering::SeqCst) >= 2).then_some(())
    })
    .await;
    let kept = history(&app.store, HistoryKind::InboundMessages, cutoff).await;
    assert_eq!(kept.len(), inbound.len());
    assert_eq!(
        history(&app.store, HistoryKind::OutboundMessages, cutoff)
            .await
            .len(),
        outbound.len()
    );
    assert!(bucket.objects.lock().unwrap().is_empty());

    // The bucket back: the next pass archives everything, once, and the folder is empty.
    bucket.down.store(false, Ordering::SeqCst);
    until_gone(&app, HistoryKind::InboundMessages, cutoff).await;
    until_gone(&app, HistoryKind::OutboundMessages, cutoff).await;
    for (kind, rows) in [
        (HistoryKind::InboundMessages, &inbound),
        (HistoryKind::OutboundMessages, &outbound),
    ] {
        let stored = bucket.records(kind);
        let mut ids: Vec<i64> = stored.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), rows.len(), "{kind:?}");
        assert_eq!(
            checksum(
                stored
                    .iter()
                    .map(|r| (r.id, &r.row))
                    .collect::<BTreeMap<_, _>>()
            ),
            checksum(rows.iter().map(|r| (r.id, &r.row)))
        );
    }
    eventually(
        Duration::from_secs(5),
        "the local copies removed",
        || async { files_under(archive.path()).is_empty().then_some(()) },
    )
    .await;
    app.shutdown().await;
}

#[test]
fn the_bucket_without_media_s3_is_refused_naming_both_keys() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("parley.yaml");
    std::fs::write(
        &config,
        format!(
            "database: {{ url: \"sqlite://{}\" }}\nretention: {{ messages: 90d, to: bucket }}\n",
            dir.path().join("parley.db").display()
        ),
    )
    .unwrap();
    let (ok, out, err) = archive_cli(&config, &["list"]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("retention.to: `bucket` keeps the archive in the bucket of media.s3, which is not set: set media.s3"),
        "{err}"
    );
}
