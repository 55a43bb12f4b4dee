//! A database outage refuses webhooks quickly instead of holding them open, readiness says
//! so at once, and nothing is lost or sent twice when the database comes back, however long
//! the outage (issue 13, item 15).
//!
//! PostgreSQL is reached through a TCP proxy that the test can cut (the listener closed and
//! every connection dropped, as when the server stops) and restore.

use crate::helpers::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

struct Proxy {
    port: u16,
    upstream: String,
    accept: Mutex<Option<JoinHandle<()>>>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: &str) -> Arc<Self> {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let proxy = Arc::new(Self {
            port,
            upstream: upstream.to_string(),
            accept: Mutex::new(None),
            links: Arc::default(),
        });
        proxy.restore();
        proxy
    }

    /// Listens again, forwarding every connection to the database.
    fn restore(&self) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket
            .bind(format!("127.0.0.1:{}", self.port).parse().unwrap())
            .unwrap();
        let listener: TcpListener = socket.listen(128).unwrap();
        let upstream = self.upstream.clone();
        let links = self.links.clone();
        *self.accept.lock().unwrap() = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                links.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        }));
    }

    /// The database "stops": new connections are refused, open ones are cut.
    fn cut(&self) {
        if let Some(accept) = self.accept.lock().unwrap().take() {
            accept.abort();
        }
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn url(&self, database_url: &str) -> String {
        let (_, rest) = database_url.split_once('@').expect("user@host in the URL");
        let (_, db) = rest.split_once('/').unwrap();
        let (user, _) = database_url.split_once('@').unwrap();
        format!("{user}@127.0.0.1:{}/{db}", self.port)
    }
}

/// One message answered normally, then the provider turns slow and a reply to "hi in flight"
/// is left at it, unanswered: the caller takes the database away now.
async fn reply_in_flight(app: &TestApp, tag: &str) {
    let before = meta_text(
        "16315551181",
        &format!("wamid.{tag}.0"),
        "hi before",
        now_unix(),
    );
    assert_eq!(app.post_meta(&before).await.status(), 200);
    app.wait_meta_sends(1, Duration::from_secs(20)).await;
    app.meta.reset().await;
    Mock::given(method("POST"))
        .and(path_regex("/messages$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(
                    serde_json::json!({"messages": [{"id": format!("wamid.{tag}.slow")}]}),
                )
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&app.meta)
        .await;
    let in_flight = meta_text(
        "16315551182",
        &format!("wamid.{tag}.1"),
        "hi in flight",
        now_unix(),
    );
    assert_eq!(app.post_meta(&in_flight).await.status(), 200);
    app.wait_meta_sends(1, Duration::from_secs(20)).await;
}

/// Once the database is back: the provider retries every refused webhook until it is
/// taken, and then each of `expected` (reply texts, first `prefix` characters) arrived
/// exactly once.
async fn retried_until_stored_then_each_reply_once(
    app: &TestApp,
    refused: &[Vec<u8>],
    mut expected: Vec<String>,
    prefix: usize,
) {
    for body in refused {
        let t = Instant::now();
        loop {
            let status = app.post_meta(body).await.status();
            if status == 200 {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "still {status} after the outage"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    app.wait_meta_sends(expected.len(), Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut texts: Vec<String> = app
        .meta_sends()
        .await
        .iter()
        .map(|s| body_text(s).chars().take(prefix).collect())
        .collect();
    texts.sort();
    expected.sort();
    assert_eq!(texts, expected, "each reply exactly once, nothing lost");
}

#[tokio::test]
async fn postgres_outage_answers_503_quickly_and_loses_or_repeats_nothing() {
    let Some(db) = crate::postgres::fresh_database().await else {
        return;
    };
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let app = spawn_with(Options {
        database_url: Some(proxy.url(&db)),
        // A send lease (2 × send_timeout = 4 s) much shorter than the outage: a send whose
        // outcome could not be written must still not be repeated.
        config_edits: vec![("send_timeout: 2s", "send_timeout: 2s, lease: 1s")],
        ..Default::default()
    })
    .await;
    // A reply is at the provider (which answers slowly) when the database goes away: its
    // outcome cannot be written until the database is back.
    reply_in_flight(&app, "out").await;
    proxy.cut();

    // During the outage: every webhook is refused within the bound, never held open.
    let mut refused = Vec::new();
    for i in 0..5 {
        let body = meta_text(
            "16315551183",
            &format!("wamid.out.during.{i}"),
            &format!("hi during {i}"),
            now_unix(),
        );
        let t = Instant::now();
        let res = app.post_meta(&body).await;
        let took = t.elapsed();
        assert_eq!(
            res.status(),
            503,
            "a webhook the database cannot store is refused"
        );
        let text = res.text().await.unwrap();
        assert!(
            !text.to_lowercase().contains("connection") && !text.contains("pool"),
            "no driver text reaches the provider: {text}"
        );
        assert!(
            took < Duration::from_secs(10),
            "answered after {took:?}; providers time out at 15–20 s"
        );
        refused.push(body);
    }
    let t = Instant::now();
    let ready = app
        .http
        .get(format!("{}/readyz", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503, "readiness is red during the outage");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "readiness answered late"
    );
    // Longer than the send lease.
    tokio::time::sleep(Duration::from_secs(6)).await;

    proxy.restore();
    // One reply for the in-flight message, one per refused webhook.
    let mut expected: Vec<String> = vec!["echo: hi in flight".into()];
    expected.extend((0..5).map(|i| format!("echo: hi during {i}")));
    retried_until_stored_then_each_reply_once(&app, &refused, expected, usize::MAX).await;
    let ready = app
        .http
        .get(format!("{}/readyz", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    app.shutdown().await;
    proxy.cut();
}

/// A small tmpfs of the test's own, so the disk can be filled without touching the machine.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: full-disk test (mounting a small tmpfs needs root)");
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes a filler file until the disk is full.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path().join("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let small = [0u8; 512];
        while f.write_all(&small).is_ok() {}
        let _ = f.sync_all();
    }

    fn free(&self) {
        std::fs::remove_file(self.path().join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn sqlite_full_disk_answers_503_and_loses_or_repeats_nothing() {
    let Some(disk) = SmallDisk::mount("16m") else {
        return;
    };
    let db = format!("sqlite://{}", disk.path().join("parley.db").display());
    let app = spawn_with(Options {
        database_url: Some(db),
        config_edits: vec![("send_timeout: 2s", "send_timeout: 2s, lease: 1s")],
        ..Default::default()
    })
    .await;
    // A reply is at the (slow) provider when the disk fills up.
    reply_in_flight(&app, "full").await;
    disk.fill();

    let mut refused = Vec::new();
    for i in 0..5 {
        // Big enough that the write cannot fit in a page SQLite already has.
        let text = format!("hi during {i} {}", "x".repeat(20_000));
        let body = meta_text(
            "16315551183",
            &format!("wamid.full.during.{i}"),
            &text,
            now_unix(),
        );
        let t = Instant::now();
        let res = app.post_meta(&body).await;
        assert!(t.elapsed() < Duration::from_secs(10), "answered late");
        if res.status() == 200 {
            // It fitted after all: then it must be answered like any other.
            refused.push((body, true));
            continue;
        }
        assert_eq!(
            res.status(),
            503,
            "a webhook that cannot be stored is refused"
        );
        let text = res.text().await.unwrap();
        assert!(
            !text.contains("disk") && !text.contains("SQLITE"),
            "no database text reaches the provider: {text}"
        );
        refused.push((body, false));
    }
    assert!(
        refused.iter().any(|(_, stored)| !stored),
        "the full disk refused nothing"
    );
    // Reads still work, but readiness says the database refuses writes, and the 503s
    // are counted.
    let (status, ready) = get_json(&app, "/readyz").await;
    assert_eq!(status, 503, "{ready:#}");
    assert!(
        ready["database"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("refused to store webhooks")),
        "{ready:#}"
    );
    let page = metrics_page(&app.http, &app.addr).await;
    assert!(
        page.contains("parley_webhooks_unavailable_total{reason=\"store_error\"}"),
        "{page}"
    );
    // Longer than the send lease.
    tokio::time::sleep(Duration::from_secs(5)).await;

    disk.free();
    let refused: Vec<Vec<u8>> = refused.into_iter().map(|(body, _)| body).collect();
    let mut expected: Vec<String> = vec!["echo: hi in flight".into()];
    expected.extend((0..5).map(|i| format!("echo: hi during {i} xx")));
    retried_until_stored_then_each_reply_once(&app, &refused, expected, 20).await;
    let (status, ready) = get_json(&app, "/readyz").await;
    assert_eq!(
        status, 200,
        "ready again once webhooks are stored: {ready:#}"
    );
    app.shutdown().await;
}

/// A PostgreSQL outage longer than the send lease, with replies at the provider and others
/// waiting for their turn when it begins: once the database is back, every reply goes
/// within seconds, once, in a process that never stopped. None of them waits the
/// `unknown_outcome_wait` (60 s here) that is only for the sends of a process that died.
#[tokio::test]
async fn postgres_outage_longer_than_the_lease_parks_no_reply_of_a_live_process() {
    parks_no_reply(8, 700, 2, 300).await;
}

async fn parks_no_reply(customers: usize, delay_ms: u64, concurrency: usize, before_cut_ms: u64) {
    let Some(db) = crate::postgres::fresh_database().await else {
        return;
    };
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let app = spawn_with(Options {
        database_url: Some(proxy.url(&db)),
        config_edits: vec![(
            "send_timeout: 2s, retry: { initial: 20ms, max_delay: 200ms }, unknown_outcome_wait: 1s",
            &*format!("send_timeout: 2s, lease: 1s, concurrency: {concurrency}, retry: {{ initial: 20ms, max_delay: 200ms }}, unknown_outcome_wait: 60s").leak(),
        )],
        ..Default::default()
    })
    .await;
    app.meta.reset().await;
    Mock::given(method("POST"))
        .and(path_regex("/messages$"))
        .respond_with(move |req: &wiremock::Request| {
            meta_accepts(req).set_delay(Duration::from_millis(delay_ms))
        })
        .mount(&app.meta)
        .await;
    let mut posts = Vec::new();
    for i in 0..customers {
        let body = meta_text(
            &format!("163155512{i:02}"),
            &format!("wamid.park.{i}"),
            &format!("hi park {i}"),
            now_unix(),
        );
        let app2 = app.http.clone();
        let _ = &app2;
        posts.push(body);
    }
    let mut refused = Vec::new();
    let bodies = posts.clone();
    let sending = async {
        for body in &bodies {
            if app.post_meta(body).await.status() != 200 {
                refused.push(body.clone());
            }
        }
    };
    if before_cut_ms == 0 {
        // The cut lands among the webhooks, their commits, claims and sends.
        let cut = async {
            tokio::time::sleep(Duration::from_millis(15)).await;
            proxy.cut();
        };
        tokio::join!(sending, cut);
    } else {
        sending.await;
        // Replies at the provider, the others waiting for a slot.
        tokio::time::sleep(Duration::from_millis(before_cut_ms)).await;
        proxy.cut();
    }
    // Longer than the send lease (2 × send_timeout = 4 s).
    tokio::time::sleep(Duration::from_secs(6)).await;
    proxy.restore();
    let back = Instant::now();
    for body in &refused {
        while app.post_meta(body).await.status() != 200 {
            assert!(back.elapsed() < Duration::from_secs(20), "still refused");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    app.wait_meta_sends(customers, Duration::from_secs(25))
        .await;
    assert!(
        back.elapsed() < Duration::from_secs(25),
        "replies waited {:?} after the database came back",
        back.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut texts: Vec<String> = app
        .meta_sends()
        .await
        .iter()
        .map(|s| body_text(s).to_string())
        .collect();
    texts.sort();
    let mut expected: Vec<String> = (0..customers)
        .map(|i| format!("echo: hi park {i}"))
        .collect();
    expected.sort();
    assert_eq!(texts, expected, "each reply once");
    app.shutdown().await;
    proxy.cut();
}
