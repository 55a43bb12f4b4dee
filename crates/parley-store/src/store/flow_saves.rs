//! The studio's saves of project files (`flow_saves`): every save of a flow, test, script,
//! knowledge or rules file from `/studio`, with who saved it, when, the text saved (so it
//! can be restored) and the diff from the text it replaced. Written once per save, read
//! back as a file's history (newest first, without the texts) and one save at a time.
//! The SQL is the same on both backends (`$1` parameters); each backend's file runs it.

use crate::domain::Id;
use crate::store::rows::Stamp;
use crate::store::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The most saves `FlowSaves::flow_saves` returns.
pub const MAX_FLOW_SAVES: i64 = 100;

/// A save to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFlowSave {
    /// Relative to the project folder, with `/` separators: `flows/welcome.yaml`.
    pub path: String,
    pub at: DateTime<Utc>,
    /// The API key's name, or `local` for a save from this machine.
    pub who: String,
    /// SHA-256 (hex) of the text saved.
    pub version: String,
    /// SHA-256 (hex) of the text it replaced; `None` for a new file.
    pub previous: Option<String>,
    pub text: String,
    /// Unified diff from the replaced text to this one.
    pub diff: String,
}

/// A recorded save as a file's history lists it: everything but the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowSaveEntry {
    pub id: Id,
    pub path: String,
    #[serde(serialize_with = "rfc3339")]
    pub at: DateTime<Utc>,
    pub who: String,
    pub version: String,
    pub previous: Option<String>,
    pub diff: String,
}

/// A recorded save with its text, to restore it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSave {
    pub entry: FlowSaveEntry,
    pub text: String,
}

/// A `flow_saves` row as either backend returns it (`at` stored its own way).
#[derive(sqlx_macros::FromRow)]
pub(crate) struct EntryCols {
    id: Id,
    path: String,
    at: Stamp,
    who: String,
    version: String,
    previous: Option<String>,
    diff: String,
}

impl From<EntryCols> for FlowSaveEntry {
    fn from(r: EntryCols) -> Self {
        FlowSaveEntry {
            id: r.id,
            path: r.path,
            at: r.at.0,
            who: r.who,
            version: r.version,
            previous: r.previous,
            diff: r.diff,
        }
    }
}

/// [`EntryCols`] with the text.
#[derive(sqlx_macros::FromRow)]
pub(crate) struct SaveCols {
    #[sqlx(flatten)]
    entry: EntryCols,
    text: String,
}

impl From<SaveCols> for FlowSave {
    fn from(r: SaveCols) -> Self {
        FlowSave {
            entry: r.entry.into(),
            text: r.text,
        }
    }
}

/// `2026-11-29T03:00:00.123456Z`.
fn rfc3339<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// The saves of the studio, for its history and restore, and for the audit read
/// (`GET /api/flows/saves`).
#[async_trait]
pub trait FlowSaves: Send + Sync {
    /// Records a save; its id.
    async fn record_flow_save(&self, save: &NewFlowSave) -> StoreResult<Id>;

    /// The saves of `path`, newest first, at most `limit` (1 to [`MAX_FLOW_SAVES`]).
    async fn flow_saves(&self, path: &str, limit: i64) -> StoreResult<Vec<FlowSaveEntry>>;

    /// One save with its text.
    async fn flow_save(&self, id: Id) -> StoreResult<Option<FlowSave>>;
}

/// `FlowSaves::flow_saves`: `$1` the path, `$2` the limit.
pub(crate) const FLOW_SAVES: &str = "select id, path, at, who, version, previous, diff
     from flow_saves where path = $1 order by id desc limit $2";

/// `FlowSaves::flow_save`: `$1` the id.
pub(crate) const FLOW_SAVE: &str = "select id, path, at, who, version, previous, diff, text
     from flow_saves where id = $1";

/// The limit `flow_saves` runs with.
pub(crate) fn bounded(limit: i64) -> i64 {
    limit.clamp(1, MAX_FLOW_SAVES)
}
