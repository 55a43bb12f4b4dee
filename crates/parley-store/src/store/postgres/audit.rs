//! `Audit` on PostgreSQL.

use super::PgStore;
use crate::domain::Id;
use crate::store::audit::{bounded_limit, AuditCols, APPEND, ENTRIES};
use crate::store::{Audit, AuditEntry, AuditFilter, NewAuditEntry, StoreResult};
use async_trait::async_trait;

#[async_trait]
impl Audit for PgStore {
    /// Without waiting for the WAL to reach the disk (`synchronous_commit` off for this
    /// transaction only): a row follows every API change, and a flush each doubled a
    /// send's commits; a crash may lose the last fraction of a second of rows, never
    /// leave a half one.
    async fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<Id> {
        let (actor, action, target, source, detail) = entry.bounded();
        let mut tx = self.pool.begin().await?;
        sqlx::query("set local synchronous_commit to off")
            .execute(&mut *tx)
            .await?;
        let id = sqlx::query_scalar(APPEND)
            .bind(entry.at_ms)
            .bind(actor)
            .bind(entry.via.as_str())
            .bind(action)
            .bind(target)
            .bind(source)
            .bind(entry.status)
            .bind(detail)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn audit_entries(&self, f: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let rows: Vec<AuditCols> = sqlx::query_as(ENTRIES)
            .bind(f.since_ms)
            .bind(f.until_ms)
            .bind(f.actor.as_deref())
            .bind(f.action.as_deref())
            .bind(f.before)
            .bind(bounded_limit(f.limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
