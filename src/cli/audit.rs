//! What the commands that change something record in the audit log (issue 60): who (the
//! user at the terminal: `cli:<user>`), from where (`host:<name>`), what (`contacts.import`,
//! `broadcasts.create`, `rollout.share`, …), on what, and ids and counts; never a secret,
//! a file's contents or a message. A command records after its change succeeded; when the
//! log cannot be written (the database is busy or unreachable) the command says so on
//! stderr and still succeeds: the change is already made.

use crate::config::DatabaseConfig;
use crate::store::{self, AuditVia, DynStore, NewAuditEntry};
use serde_json::Value;

/// Records `action` on `target` with `detail` (ids, counts, field names) in the log of
/// `store`, as done by the person at this terminal.
pub async fn record(store: &DynStore, action: &str, target: Option<&str>, detail: Value) {
    let entry = entry(action, target, detail);
    if let Err(e) = store.append_audit(&entry).await {
        eprintln!("parley: the change was made, but the audit log could not record it: {e}");
    }
}

/// [`record`] for a command that has no store open (it works on files or copies the
/// database): opens the config's database for the one row, unless it is a SQLite file
/// that does not exist (recording is no reason to create a database).
pub fn record_in(database: &DatabaseConfig, action: &str, target: Option<&str>, detail: Value) {
    let url = &database.url;
    let exists = || store::sqlite::backup::database_file(url).is_ok_and(|f| f.exists());
    if url.starts_with("sqlite:") && !exists() {
        eprintln!("parley: not recorded in the audit log: the database {url} does not exist");
        return;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return eprintln!("parley: not recorded in the audit log: {e}"),
    };
    runtime.block_on(async {
        match store::connect(database).await {
            Ok(store) => record(&store, action, target, detail).await,
            Err(e) => eprintln!(
                "parley: the change was made, but the audit log could not record it: cannot open the database {url}: {e}"
            ),
        }
    })
}

/// The entry as the CLI writes it: `cli:<user>` from `host:<name>`, now.
pub fn entry(action: &str, target: Option<&str>, detail: Value) -> NewAuditEntry {
    let mut entry = NewAuditEntry::new(
        chrono::Utc::now().timestamp_millis(),
        &format!("cli:{}", user()),
        AuditVia::Cli,
        action,
    );
    entry.target = target.map(str::to_string);
    entry.source = host().map(|h| format!("host:{h}"));
    entry.detail = detail;
    entry
}

/// The user running the command (`USER`, else `LOGNAME`), or `unknown`.
fn user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// This machine's name, when it has one.
fn host() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_names_the_user_the_host_and_what_was_done() {
        let e = entry(
            "contacts.import",
            Some("contacts.csv"),
            serde_json::json!({ "created": 2 }),
        );
        assert!(e.actor.starts_with("cli:"), "{}", e.actor);
        assert_eq!(e.via, AuditVia::Cli);
        assert_eq!(e.action, "contacts.import");
        assert_eq!(e.target.as_deref(), Some("contacts.csv"));
        assert!(e.source.as_deref().is_none_or(|s| s.starts_with("host:")));
        assert_eq!(e.detail["created"], 2);
        assert!(e.at_ms > 1_700_000_000_000);
    }
}
