//! The audit log (issue 60): who changed what, when and from where, through the API, the
//! CLI or the pages; never a secret or a message body (`audit_log`, migration 0034).
//!
//! Rows are appended one at a time and read newest first with filters and a cursor (the
//! last id seen). `detail` is a small JSON object of ids, counts and field names that the
//! writer composes; this module bounds its size and the length of every text so a hostile
//! caller cannot grow a row. Deleting old rows is retention's (`store::Retention`).
//! The SQL is the same on both backends (`$1` parameters); each backend's file runs it.

use crate::domain::Id;
use crate::store::StoreResult;
use async_trait::async_trait;
use serde::Serialize;

/// The most rows `Audit::audit_entries` returns at once.
pub const MAX_AUDIT_ENTRIES: i64 = 1000;
/// Longer `actor`, `action`, `target` or `source` texts are cut to this many characters.
pub const MAX_AUDIT_TEXT: usize = 200;
/// A `detail` larger than this (as JSON) is replaced by `{"truncated": true}`.
pub const MAX_AUDIT_DETAIL_BYTES: usize = 2048;

/// How a change was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditVia {
    /// An API route, by an API key.
    Api,
    /// A command at a terminal (`parley contacts import`, …).
    Cli,
    /// A page of Parley's (the studio).
    Page,
}

impl AuditVia {
    pub fn as_str(&self) -> &'static str {
        match self {
            AuditVia::Api => "api",
            AuditVia::Cli => "cli",
            AuditVia::Page => "page",
        }
    }
}

/// A change to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// Who: an API key's name, `cli:<user>`, a studio editor.
    pub actor: String,
    pub via: AuditVia,
    /// What: `POST /api/broadcasts/{broadcast_id}/pause`, `contacts.import`, `key.use`.
    pub action: String,
    /// On what: a path with its ids, a flow file, a broadcast id.
    pub target: Option<String>,
    /// From where: the client's address.
    pub source: Option<String>,
    /// The HTTP status the change was answered with, when there was one.
    pub status: Option<i32>,
    /// Ids, counts and field names; never the value of a text.
    pub detail: serde_json::Value,
}

impl NewAuditEntry {
    /// An entry at `at_ms` with no target, source, status or detail.
    pub fn new(at_ms: i64, actor: &str, via: AuditVia, action: &str) -> Self {
        NewAuditEntry {
            at_ms,
            actor: actor.to_string(),
            via,
            action: action.to_string(),
            target: None,
            source: None,
            status: None,
            detail: serde_json::json!({}),
        }
    }

    /// The entry as it is stored: texts cut to [`MAX_AUDIT_TEXT`], `detail` an object of at
    /// most [`MAX_AUDIT_DETAIL_BYTES`].
    pub(crate) fn bounded(&self) -> (String, String, Option<String>, Option<String>, String) {
        let detail = match &self.detail {
            d @ serde_json::Value::Object(_) => d.to_string(),
            serde_json::Value::Null => "{}".to_string(),
            other => serde_json::json!({ "value": other }).to_string(),
        };
        let detail = if detail.len() > MAX_AUDIT_DETAIL_BYTES {
            r#"{"truncated":true}"#.to_string()
        } else {
            detail
        };
        (
            cut(&self.actor),
            cut(&self.action),
            self.target.as_deref().map(cut),
            self.source.as_deref().map(cut),
            detail,
        )
    }
}

fn cut(text: &str) -> String {
    text.chars().take(MAX_AUDIT_TEXT).collect()
}

/// A recorded change, as `GET /api/audit` answers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: Id,
    pub at_ms: i64,
    pub actor: String,
    pub via: String,
    pub action: String,
    pub target: Option<String>,
    pub source: Option<String>,
    pub status: Option<i32>,
    pub detail: serde_json::Value,
}

/// Which rows `Audit::audit_entries` reads: all filters are and-ed; `before` is the
/// cursor (the id of the last row of the previous page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// From this instant (Unix ms), included.
    pub since_ms: Option<i64>,
    /// Before this instant (Unix ms), excluded.
    pub until_ms: Option<i64>,
    pub actor: Option<String>,
    /// An action exactly, or every action starting with it and a `.` or ` ` (`contacts`
    /// reads `contacts.import`; `POST` reads every POST of the API).
    pub action: Option<String>,
    /// Only rows with a smaller id.
    pub before: Option<Id>,
    /// 1 to [`MAX_AUDIT_ENTRIES`].
    pub limit: i64,
}

/// An `audit_log` row as both backends return it.
#[derive(sqlx_macros::FromRow)]
pub(crate) struct AuditCols {
    id: Id,
    at: i64,
    actor: String,
    via: String,
    action: String,
    target: Option<String>,
    source: Option<String>,
    status: Option<i32>,
    detail: String,
}

impl From<AuditCols> for AuditEntry {
    fn from(r: AuditCols) -> Self {
        AuditEntry {
            id: r.id,
            at_ms: r.at,
            actor: r.actor,
            via: r.via,
            action: r.action,
            target: r.target,
            source: r.source,
            status: r.status,
            detail: serde_json::from_str(&r.detail).unwrap_or_else(|_| serde_json::json!({})),
        }
    }
}

/// The audit log's reads and writes.
#[async_trait]
pub trait Audit: Send + Sync {
    /// Appends one change; its id.
    async fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<Id>;

    /// Recorded changes, newest first.
    async fn audit_entries(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>>;
}

/// `Audit::append_audit`: `$1` at … `$8` detail.
pub(crate) const APPEND: &str =
    "insert into audit_log (at, actor, via, action, target, source, status, detail)
     values ($1, $2, $3, $4, $5, $6, $7, $8) returning id";

/// `Audit::audit_entries`: `$1` since, `$2` until, `$3` actor, `$4` action (exactly, or
/// as the start of one up to a `.` or a space), `$5` before, `$6` limit.
pub(crate) const ENTRIES: &str =
    "select id, at, actor, via, action, target, source, status, detail from audit_log
     where (cast($1 as bigint) is null or at >= $1)
       and (cast($2 as bigint) is null or at < $2)
       and (cast($3 as text) is null or actor = $3)
       and (cast($4 as text) is null or action = $4
            or substr(action, 1, length($4) + 1) = $4 || '.'
            or substr(action, 1, length($4) + 1) = $4 || ' ')
       and (cast($5 as bigint) is null or id < $5)
     order by id desc limit $6";

/// The limit `audit_entries` runs with.
pub(crate) fn bounded_limit(limit: i64) -> i64 {
    limit.clamp(1, MAX_AUDIT_ENTRIES)
}
