//! `Audit` on SQLite: appended on the writer thread, read through the reader pool.

use super::SqliteStore;
use crate::domain::Id;
use crate::store::audit::{bounded_limit, AuditCols, APPEND, ENTRIES};
use crate::store::{Audit, AuditEntry, AuditFilter, NewAuditEntry, StoreResult};
use async_trait::async_trait;
use rusqlite::params;

#[async_trait]
impl Audit for SqliteStore {
    async fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<Id> {
        let (actor, action, target, source, detail) = entry.bounded();
        let (at, via, status) = (entry.at_ms, entry.via.as_str(), entry.status);
        self.writer
            .run(move |conn| {
                Ok(conn.prepare_cached(APPEND)?.query_row(
                    params![at, actor, via, action, target, source, status, detail],
                    |row| row.get(0),
                )?)
            })
            .await
    }

    async fn audit_entries(&self, f: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let rows: Vec<AuditCols> = sqlx::query_as(ENTRIES)
            .bind(f.since_ms)
            .bind(f.until_ms)
            .bind(f.actor.as_deref())
            .bind(f.action.as_deref())
            .bind(f.before)
            .bind(bounded_limit(f.limit))
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
