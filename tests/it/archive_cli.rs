//! `parley archive` end to end: what retention archived is listed, read back by contact
//! and by day (JSON lines with the count and checksum of what was archived, or a table),
//! and a contact's messages restored into the database, once; bad input is refused with
//! the fix.

use crate::helpers::*;
use crate::retention::{app_with_retention, checksum, history, say, settled};
use parley::domain::Clock;
use parley::store::HistoryKind;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

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

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_history_is_read_back_by_contact_and_day_and_restored_once() {
    let archive = tempfile::tempdir().unwrap();
    let mut app = app_with_retention(archive.path()).await;
    let clock = app.clock.clone().unwrap();
    say(&app, "34600000001", "wamid.a1", "hi there", 1).await;
    say(&app, "34600000002", "wamid.b1", "hi from b", 2).await;
    say(&app, "34600000001", "wamid.a2", "hi again", 3).await;
    let cutoff = clock.now() + chrono::Duration::hours(1);
    let (mut expected, outbound) = settled(&app, cutoff, 3, 3).await;
    expected.extend(outbound);
    let of_a: Vec<_> = expected
        .iter()
        .filter(|r| r.contact.as_deref() == Some("+34600000001"))
        .collect();
    assert_eq!(of_a.len(), 4);
    clock.advance(chrono::Duration::hours(3));
    eventually(Duration::from_secs(20), "the messages archived", || async {
        history(&app.store, HistoryKind::InboundMessages, cutoff)
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    eventually(Duration::from_secs(20), "the replies archived", || async {
        history(&app.store, HistoryKind::OutboundMessages, cutoff)
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    let a = app
        .store
        .find_conversation(1, "+34600000001")
        .await
        .unwrap()
        .unwrap();
    // The database outlives the app.
    let dir = std::mem::replace(&mut app._dir, tempfile::tempdir().unwrap());
    let db_url = format!("sqlite://{}", dir.path().join("parley.db").display());
    let day = clock.now().date_naive().to_string();
    app.shutdown().await;
    let config = archive.path().join("parley.yaml");
    std::fs::write(
        &config,
        format!(
            "database: {{ url: \"{db_url}\" }}\nretention: {{ dir: \"{}\" }}\n",
            archive.path().display()
        ),
    )
    .unwrap();

    let (ok, out, err) = archive_cli(&config, &["list"]);
    assert!(ok, "{err}");
    assert!(out.contains("inbound_messages"), "{out}");
    assert!(out.contains(&day), "{out}");

    // By contact: its messages and replies, as archived (count and checksum).
    let (ok, out, err) = archive_cli(&config, &["read", "--contact", "+34 600 00 00 01"]);
    assert!(ok, "{err}");
    let read = lines(&out);
    assert_eq!(read.len(), 4, "{out}");
    assert_eq!(
        checksum(read.iter().map(|r| (r["id"].as_i64().unwrap(), &r["row"]))),
        checksum(of_a.iter().map(|r| (r.id, &r.row)))
    );
    // By day: everyone's.
    let (ok, out, _) = archive_cli(&config, &["read", "--day", &day]);
    assert!(ok);
    let read = lines(&out);
    assert_eq!(read.len(), expected.len());
    assert_eq!(
        checksum(read.iter().map(|r| (r["id"].as_i64().unwrap(), &r["row"]))),
        checksum(expected.iter().map(|r| (r.id, &r.row)))
    );
    let (ok, out, _) = archive_cli(
        &config,
        &[
            "read",
            "--contact",
            "+34600000001",
            "--kind",
            "outbound_messages",
            "--table",
        ],
    );
    assert!(ok);
    assert!(out.contains("echo: hi there"), "{out}");
    assert!(!out.contains("hi from b"), "{out}");

    // Restored once; the second time finds them there.
    let (ok, out, err) = archive_cli(&config, &["restore", "--contact", "+34600000001"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("4 of 4 archived messages of +34600000001 put back (0 already there)"),
        "{out}"
    );
    let (ok, out, _) = archive_cli(&config, &["restore", "--contact", "+34600000001"]);
    assert!(ok);
    assert!(
        out.contains("0 of 4 archived messages of +34600000001 put back (4 already there)"),
        "{out}"
    );
    let store = parley::store::connect(&parley::config::DatabaseConfig {
        url: db_url,
        ..Default::default()
    })
    .await
    .unwrap();
    let inbound = store.conversation_inbound(a.id, None, 10).await.unwrap();
    assert_eq!(inbound.len(), 2);
    let outbound = store.conversation_outbound(a.id, None, 10).await.unwrap();
    assert!(format!("{:?}", outbound[1].message.content).contains("echo: hi there"));
    drop(store);

    // Another database than the one archived: said, nothing done.
    std::fs::write(
        &config,
        format!(
            "database: {{ url: \"sqlite://{}\" }}\nretention: {{ dir: \"{}\" }}\n",
            dir.path().join("other.db").display(),
            archive.path().display()
        ),
    )
    .unwrap();
    let (ok, _, err) = archive_cli(&config, &["restore", "--contact", "+34600000001"]);
    assert!(!ok);
    assert!(
        err.contains("+34600000001 has no conversation in the database"),
        "{err}"
    );
    assert!(
        err.contains("restore into the database the archive was made from"),
        "{err}"
    );
}

#[test]
fn bad_input_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("parley.yaml");
    std::fs::write(
        &config,
        format!(
            "database: {{ url: \"sqlite://{}\" }}\n",
            dir.path().join("p.db").display()
        ),
    )
    .unwrap();
    for (args, says) in [
        (
            &["read", "--day", "2026-13-01"][..],
            "--day: `2026-13-01` is not a day like 2026-03-01",
        ),
        (
            &["read", "--contact", "nobody"][..],
            "--contact: `nobody` is not a phone number",
        ),
        (
            &["read", "--kind", "emails"][..],
            "--kind: `emails` is not a kind of history; use one of inbound_messages",
        ),
    ] {
        let (ok, _, err) = archive_cli(&config, args);
        assert!(!ok, "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let (ok, out, _) = archive_cli(
        &config,
        &["list", "--dir", dir.path().join("none").to_str().unwrap()],
    );
    assert!(ok);
    assert!(out.contains("nothing archived"), "{out}");
    // A damaged file is named, with what to do.
    let bad = dir.path().join("archive/inbound_messages/2026-01-01");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("1-2.jsonl.gz"), b"garbage").unwrap();
    let (ok, _, err) = archive_cli(
        &config,
        &[
            "read",
            "--dir",
            dir.path().join("archive").to_str().unwrap(),
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("1-2.jsonl.gz: is not a readable gzip stream"),
        "{err}"
    );
    assert!(err.contains("move it out of the archive folder"), "{err}");
}
