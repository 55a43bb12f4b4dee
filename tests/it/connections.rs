//! Issue 13, item 7: connections that trickle a header (or a body) cannot exhaust the
//! process. The real binary under a 1,024 open-file limit still answers a signed webhook
//! while 2,000 slow-header connections are held against it; a header that does not arrive
//! within `http.header_read_timeout`, and a body that stops for `http.idle_timeout`, get
//! their connection closed.

use crate::crash::{free_port, sigkill, wait_healthy};
use crate::helpers::*;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SLOW_HEADER: &[u8] = b"POST /webhooks/meta HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

/// Reads until the server closes the connection; panics if it is still open after `limit`
/// (a generous bound: the property is "closed", not "closed quickly").
async fn wait_closed(stream: &mut TcpStream, trickle: bool, limit: Duration) {
    let closed = async {
        let mut buf = [0u8; 1024];
        loop {
            tokio::select! {
                read = stream.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
                _ = tokio::time::sleep(Duration::from_millis(300)), if trickle => {
                    if stream.write_all(b"a").await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    tokio::time::timeout(limit, closed)
        .await
        .expect("the server kept a stalled connection open");
}

#[tokio::test]
async fn a_header_sent_one_byte_at_a_time_is_cut_off_at_the_header_read_timeout() {
    let app = spawn_with(Options {
        extra_yaml: "http: { header_read_timeout: 1s, idle_timeout: 30s }\n".into(),
        ..Options::default()
    })
    .await;
    let addr = app.addr.trim_start_matches("http://").to_string();
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(SLOW_HEADER).await.unwrap();
    // A byte every 300 ms never extends the deadline.
    wait_closed(&mut slow, true, Duration::from_secs(20)).await;
    // The server itself is fine.
    let r = app.http.get(format!("{}/healthz", app.addr)).send().await;
    assert_eq!(r.unwrap().status(), 200);
    app.shutdown().await;
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_cut_off_at_the_idle_timeout() {
    let app = spawn_with(Options {
        extra_yaml: "http: { header_read_timeout: 30s, idle_timeout: 1s }\n".into(),
        ..Options::default()
    })
    .await;
    let addr = app.addr.trim_start_matches("http://").to_string();
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(
        b"POST /webhooks/meta HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{\"object\":",
    )
    .await
    .unwrap();
    wait_closed(&mut slow, false, Duration::from_secs(20)).await;
    app.shutdown().await;
}

/// Every connection taken by a client trickling a webhook's body a byte at a time (each
/// byte resets the idle timeout): a signed webhook still gets in, because a connection that
/// is still receiving its body is closed to make room; one whose body has arrived is not.
#[tokio::test]
async fn webhooks_get_in_while_every_connection_trickles_a_body() {
    let app = spawn_with(Options {
        extra_yaml: "http: { max_connections: 4, idle_timeout: 30s }\n".into(),
        ..Options::default()
    })
    .await;
    let addr = app.addr.trim_start_matches("http://").to_string();
    let mut tricklers = Vec::new();
    for _ in 0..4 {
        let mut slow = TcpStream::connect(&addr).await.unwrap();
        slow.write_all(
            b"POST /webhooks/meta HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n{",
        )
        .await
        .unwrap();
        tricklers.push(slow);
    }
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            for slow in &mut tricklers {
                let _ = slow.write_all(b" ").await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..3 {
        let body = meta_text(
            "16315551181",
            &format!("wamid.trickle.{i}"),
            "hi",
            now_unix(),
        );
        let answered = tokio::time::timeout(Duration::from_secs(10), app.post_meta(&body)).await;
        assert_eq!(
            answered.expect("answered").status(),
            200,
            "a webhook got in beside the trickling bodies"
        );
    }
    trickle.abort();
    app.shutdown().await;
}

/// Lowers the child's open-file limit before it runs.
fn with_file_limit(cmd: &mut Command, limit: u64) {
    // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else.
    unsafe {
        cmd.pre_exec(move || {
            let rl = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[tokio::test]
async fn webhooks_are_answered_while_2000_slow_connections_are_held_under_a_1024_file_limit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    std::fs::write(dir.path().join("flows/echo.yaml"), ECHO_FLOW).unwrap();
    let meta = wiremock::MockServer::start().await;
    mount_meta_ok(&meta).await;
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let db = format!("sqlite://{}", dir.path().join("parley.db").display());
    // A header timeout far longer than the test: the limit, not the timeout, keeps room.
    let yaml = config_yaml(
        dir.path(),
        &db,
        &meta.uri(),
        "http://127.0.0.1:9",
        "http: { header_read_timeout: 5m, idle_timeout: 5m, max_connections: 500 }",
    )
    .replace("listen: 127.0.0.1:0", &format!("listen: {addr}"));
    let config = dir.path().join("parley.yaml");
    std::fs::write(&config, yaml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_parley"));
    cmd.args(["serve", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    with_file_limit(&mut cmd, 1024);
    let mut child = cmd.spawn().expect("parley binary starts");
    let http = reqwest::Client::new();
    wait_healthy(&http, &format!("http://{addr}")).await;
    // HTTP is served from a thread of its own (`App::serve_on`), away from the workers.
    // The workers and SQLite's checkpoints run as batch threads
    // (`threads::batch_scheduling`): they never preempt it or the SQLite writer on waking.
    let threads = threads_and_policy(child.id());
    let policy_of = |name: &str| threads.iter().find(|(t, _)| t == name).map(|(_, p)| *p);
    assert_eq!(policy_of("parley-http"), Some(SCHED_OTHER), "{threads:?}");
    assert_eq!(policy_of("sqlite-writer"), Some(SCHED_OTHER), "{threads:?}");
    assert_eq!(policy_of("parley-worker"), Some(SCHED_BATCH), "{threads:?}");
    assert_eq!(
        policy_of("sqlite-checkpoi"),
        Some(SCHED_BATCH),
        "{threads:?}"
    );

    // 2,000 connections, each with a partial header, then a byte each every 2 s. Opened
    // together: past the server's backlog the kernel may hold a handshake back.
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..2000 {
        let addr = addr.clone();
        opening.spawn(async move {
            let mut s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&addr))
                .await
                .ok()?
                .ok()?;
            s.write_all(SLOW_HEADER).await.ok()?;
            Some(s)
        });
    }
    let mut slow = Vec::with_capacity(2000);
    while let Some(opened) = opening.join_next().await {
        slow.extend(opened.unwrap());
    }
    assert!(slow.len() >= 1000, "opened {} slow connections", slow.len());
    let trickle = tokio::spawn(async move {
        loop {
            for s in slow.iter_mut() {
                let _ = s.write_all(b"a").await;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });

    for i in 0..3 {
        let body = meta_text(
            "16315551181",
            &format!("wamid.slowloris.{i}"),
            &format!("hi through the crowd {i}"),
            now_unix(),
        );
        let res = http
            .post(format!("http://{addr}/webhooks/meta"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sign_meta(&body))
            .body(body)
            .timeout(Duration::from_secs(20))
            .send()
            .await;
        match res {
            Ok(r) => assert_eq!(r.status(), 200, "webhook {i}"),
            Err(e) => {
                sigkill(&mut child);
                panic!("webhook {i} was not answered while slow connections were held: {e}");
            }
        }
    }
    let replies = eventually(Duration::from_secs(20), "the three replies", || async {
        let got = sends(&meta).await;
        (got.len() >= 3).then_some(got)
    })
    .await;
    assert_eq!(replies.len(), 3);
    trickle.abort();
    assert!(
        child.try_wait().unwrap().is_none(),
        "the daemon is still running"
    );
    sigkill(&mut child);
}

/// Linux's scheduling policies, as `/proc/<pid>/task/<tid>/stat` gives them.
const SCHED_OTHER: u32 = 0;
const SCHED_BATCH: u32 = 3;

/// Each thread of process `pid`: its name and its scheduling policy (field 41 of
/// `/proc/<pid>/task/<tid>/stat`; the name in field 2 may hold spaces and parentheses, so
/// fields are counted from its closing parenthesis).
fn threads_and_policy(pid: u32) -> Vec<(String, u32)> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| {
            let dir = t.ok()?.path();
            let name = std::fs::read_to_string(dir.join("comm")).ok()?;
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            let after_name = &stat[stat.rfind(')')? + 2..];
            let policy = after_name.split(' ').nth(38)?.parse().ok()?;
            Some((name.trim().to_owned(), policy))
        })
        .collect()
}
