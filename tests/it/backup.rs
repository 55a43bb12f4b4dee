//! `parley backup` while Parley serves, and a restore that Parley starts on: SQLite (an
//! online `VACUUM INTO` copy) and PostgreSQL (`pg_dump` / `pg_restore`).

use crate::helpers::*;
use crate::postgres::fresh_database;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Three customers write and get their replies; returns when all three are sent.
async fn three_conversations(app: &TestApp) {
    for i in 1..=3 {
        let body = meta_text(
            &format!("1631555118{i}"),
            &format!("wamid.backup.{i}"),
            &format!("hi {i}"),
            now_unix(),
        );
        assert_eq!(app.post_meta(&body).await.status(), 200);
    }
    app.wait_meta_sends(3, Duration::from_secs(20)).await;
}

/// `parley backup --config CONFIG OUT` with the real binary.
fn run_backup(dir: &Path, database_url: &str, out: &Path) -> std::process::Output {
    backup_command(dir, database_url, out)
        .output()
        .expect("run parley backup")
}

/// `parley backup` as `run_backup`, on a disk that takes files of at most `max_kib` KiB
/// (`ulimit -f`; SIGXFSZ ignored, so a write past it fails as on a full disk).
fn run_backup_on_a_small_disk(
    dir: &Path,
    database_url: &str,
    out: &Path,
    max_kib: u64,
) -> std::process::Output {
    let parley = backup_command(dir, database_url, out);
    // POSIX counts `ulimit -f` in 512-byte blocks.
    Command::new("sh")
        .arg("-c")
        .arg("ulimit -f \"$1\" && trap '' XFSZ && shift && exec \"$@\"")
        .arg("sh")
        .arg((max_kib * 2).to_string())
        .arg(parley.get_program())
        .args(parley.get_args())
        .output()
        .expect("run parley backup")
}

fn backup_command(dir: &Path, database_url: &str, out: &Path) -> Command {
    let config = dir.join("backup.yaml");
    std::fs::write(
        &config,
        config_yaml(
            dir,
            database_url,
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
            "",
        ),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_parley"));
    command.arg("backup").arg("--config").arg(&config).arg(out);
    command
}

/// The names in `dir`, sorted: a backup leaves its file and nothing else.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Backups hold customers' conversations: readable and writable by their owner only.
fn assert_owner_only(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} is {mode:o}", file.display());
}

async fn conversations(app: &TestApp) -> usize {
    let page = app
        .store
        .conversations_page(None, None, 100)
        .await
        .expect("list conversations");
    page.len()
}

#[tokio::test]
async fn sqlite_backup_while_serving_restores_every_conversation() {
    let app = spawn_app().await;
    three_conversations(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let db_url = format!("sqlite://{}", app._dir.path().join("parley.db").display());

    // Parley is still running and owns the file: the backup reads a snapshot beside it.
    let out = run_backup(app._dir.path(), &db_url, &copy);
    assert!(
        out.status.success(),
        "backup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("integrity ok"));
    assert_owner_only(&copy);
    assert_eq!(names(dir.path()), ["copy.db"]);
    // A second backup to the same file is refused rather than overwriting it.
    let before = std::fs::read(&copy).unwrap();
    let again = run_backup(app._dir.path(), &db_url, &copy);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("already exists; Parley does not overwrite a backup"),
        "{stderr}"
    );
    assert!(!stderr.contains("could not be read"), "{stderr}");
    assert_eq!(std::fs::read(&copy).unwrap(), before);
    // The daemon kept serving during and after the copy.
    let late = meta_text("16315559999", "wamid.backup.late", "hi late", now_unix());
    assert_eq!(app.post_meta(&late).await.status(), 200);
    app.wait_meta_sends(4, Duration::from_secs(20)).await;
    assert_eq!(conversations(&app).await, 4);
    app.shutdown().await;

    // Restore: a Parley started on the copy has the three conversations of before the
    // backup (not the fourth), and answers a returning customer.
    let restored = spawn_with(Options {
        database_url: Some(format!("sqlite://{}", copy.display())),
        ..Default::default()
    })
    .await;
    assert_eq!(conversations(&restored).await, 3);
    let back = meta_text("16315551181", "wamid.backup.back", "hi again", now_unix());
    assert_eq!(restored.post_meta(&back).await.status(), 200);
    eventually(
        Duration::from_secs(20),
        "the restored Parley answers",
        || async {
            let sends = restored.meta_sends().await;
            sends
                .iter()
                .any(|s| body_text(s) == "echo: hi again")
                .then_some(())
        },
    )
    .await;
    restored.shutdown().await;
}

#[tokio::test]
async fn sqlite_backup_names_a_missing_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nothing.db").display());
    let out = run_backup(dir.path(), &url, &dir.path().join("copy.db"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nothing.db does not exist"), "{stderr}");
}

#[tokio::test]
async fn sqlite_backup_on_a_full_disk_leaves_no_file_and_the_retry_succeeds() {
    let app = spawn_app().await;
    three_conversations(&app).await;
    let db_url = format!("sqlite://{}", app._dir.path().join("parley.db").display());
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    // Room for the reader's shared-memory file (32 KiB), not for the copy.
    let full = run_backup_on_a_small_disk(app._dir.path(), &db_url, &copy, 64);
    assert!(!full.status.success());
    let stderr = String::from_utf8_lossy(&full.stderr);
    assert!(
        stderr.contains(&format!(
            "backup failed: the backup could not be written to {}: ",
            copy.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("could not be read"), "{stderr}");
    // No empty or half copy that would pass for a backup, or block the next one.
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));

    let retry = run_backup(app._dir.path(), &db_url, &copy);
    assert!(
        retry.status.success(),
        "{}",
        String::from_utf8_lossy(&retry.stderr)
    );
    assert!(
        std::fs::metadata(&copy).unwrap().len() > 64 * 1024,
        "the copy is larger than the small disk"
    );
    assert_owner_only(&copy);
    app.shutdown().await;
}

/// `url` with its database name replaced by one that does not exist.
fn missing_database(url: &str) -> String {
    let (prefix, _) = url.rsplit_once('/').unwrap();
    format!("{prefix}/parley_no_such_database")
}

#[tokio::test]
async fn postgres_backup_that_fails_leaves_no_file() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("out").join("parley.dump");
    std::fs::create_dir(dump.parent().unwrap()).unwrap();
    let out = run_backup(dir.path(), &missing_database(&url), &dump);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "backup failed: the backup could not be written to {}: pg_dump failed",
            dump.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("\"parley_no_such_database\" does not exist"),
        "pg_dump's reason: {stderr}"
    );
    assert!(names(dump.parent().unwrap()).is_empty());
}

#[tokio::test]
async fn postgres_backup_refuses_an_existing_file_and_leaves_it_as_it_was() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("out").join("parley.dump");
    std::fs::create_dir(dump.parent().unwrap()).unwrap();
    std::fs::write(&dump, b"yesterday's backup").unwrap();
    // Whether pg_dump would succeed (the database is there) or fail (it is not).
    for url in [url.clone(), missing_database(&url)] {
        let out = run_backup(dir.path(), &url, &dump);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "backup failed: {} already exists; Parley does not overwrite a backup",
                dump.display()
            )),
            "{stderr}"
        );
        assert_eq!(std::fs::read(&dump).unwrap(), b"yesterday's backup");
        assert_eq!(names(dump.parent().unwrap()), ["parley.dump"]);
    }
}

#[tokio::test]
async fn postgres_backup_while_serving_restores_into_an_empty_database() {
    let Some(url) = fresh_database().await else {
        return;
    };
    if Command::new("pg_restore")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("pg_dump/pg_restore are needed with PARLEY_TEST_POSTGRES_URL (apt-get install postgresql-client)");
    }
    let app = spawn_with(Options {
        database_url: Some(url.clone()),
        ..Default::default()
    })
    .await;
    three_conversations(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("parley.dump");
    let out = run_backup(app._dir.path(), &url, &dump);
    assert!(
        out.status.success(),
        "backup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_owner_only(&dump);
    assert_eq!(names(dir.path()), ["parley.dump"]);
    app.shutdown().await;

    let target = fresh_database().await.expect("a second database");
    let restore = Command::new("pg_restore")
        .args(["--no-owner", "--exit-on-error", "--dbname"])
        .arg(&target)
        .arg(&dump)
        .output()
        .expect("run pg_restore");
    assert!(
        restore.status.success(),
        "pg_restore failed: {}",
        String::from_utf8_lossy(&restore.stderr)
    );
    let restored = spawn_with(Options {
        database_url: Some(target),
        ..Default::default()
    })
    .await;
    assert_eq!(conversations(&restored).await, 3);
    restored.shutdown().await;
}

/// `parley ARGS…` with `config`, none of the senders' secrets in the environment.
fn parley_without_secrets(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("PARLEY_CONFIG")
        .env_remove("PARLEY_TEST_UNSET_TOKEN")
        .env_remove("PARLEY_TEST_UNSET_DATABASE")
        .output()
        .expect("parley runs")
}

#[tokio::test]
async fn database_commands_run_without_the_senders_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("parley.yaml");
    let sender = "senders:\n  - id: 1\n    name: Support\n    channel: meta\n    phone_number: \"+15550783881\"\n    meta:\n      phone_number_id: \"106540352242922\"\n      access_token: ${PARLEY_TEST_UNSET_TOKEN}\n      app_secret: ${PARLEY_TEST_UNSET_TOKEN}\n      verify_token: ${PARLEY_TEST_UNSET_TOKEN}\n";
    std::fs::write(
        &config,
        format!("database: {{ url: \"sqlite://parley.db\" }}\n{sender}"),
    )
    .unwrap();
    // The systemd setup: the secrets are in the service's environment file, not this shell.
    let export = parley_without_secrets(&config, &["contacts", "export"]);
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let list = parley_without_secrets(&config, &["broadcasts", "list"]);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let copy = dir.path().join("copy.db");
    let backup = parley_without_secrets(&config, &["backup", copy.to_str().unwrap()]);
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    // Serving still needs them.
    let check = parley_without_secrets(&config, &["check"]);
    assert!(!check.status.success());

    // A variable the command does need: the error says which command and how to set it.
    std::fs::write(
        &config,
        format!("database: {{ url: \"${{PARLEY_TEST_UNSET_DATABASE}}\" }}\n{sender}"),
    )
    .unwrap();
    let backup = parley_without_secrets(&config, &["backup", copy.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&backup.stderr);
    assert!(!backup.status.success());
    assert!(
        stderr.contains("database.url: environment variable PARLEY_TEST_UNSET_DATABASE is not set"),
        "{stderr}"
    );
    assert!(!stderr.contains("PARLEY_TEST_UNSET_TOKEN"), "{stderr}");
    assert!(
        stderr.contains("`parley backup` reads the database settings from"),
        "{stderr}"
    );
    assert!(
        stderr.contains("set -a; . /etc/parley/parley.env; set +a"),
        "{stderr}"
    );
}
