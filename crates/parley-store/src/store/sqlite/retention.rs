//! `Retention` on sqlite: batches read through the reader pool, removals and restores on
//! the writer thread (one short transaction per batch), and the file's space given back by
//! incremental vacuum, which a database made before retention is switched to once, at
//! open (`incremental_vacuum_on`).

use super::rows::{micros, time};
use super::SqliteStore;
use crate::domain::Id;
use crate::store::retention::{batch_sql, not_restorable, remove_sql, Col, Dialect};
use crate::store::{HistoryKind, HistoryRow, Retention, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;
use serde_json::Value;
use sqlx::Row;

const DIALECT: Dialect = Dialect {
    object: "json_object",
    value,
    micros: |col| col.to_string(),
    params: ["?1", "?2", "?3"],
    id_in: "t.id in (select value from json_each({ids}))",
    emptied_send: "payload = json_set(t.payload, '$.content', json('{\"kind\":\"text\",\"body\":\"(archived)\"}')),
                   archived_at = ?3",
    emptied_exchange: "request = '{}', answer = null, archived_at = ?3",
};

fn value(col: &str, kind: Col) -> String {
    match kind {
        Col::Int | Col::Text | Col::Stamp => col.to_string(),
        Col::Json => format!("json({col})"),
        Col::Bool => format!(
            "json(case when {col} is null then 'null' when {col} then 'true' else 'false' end)"
        ),
    }
}

/// Switches the file to incremental vacuum if it is not yet (a database made before
/// retention): a new, empty database takes it in milliseconds; an existing one is rewritten
/// once by `VACUUM` (9 s for a 420 MB file of 1M messages on the 2-core machine of
/// BENCHMARKS.md; the temporary copy on disk, not in memory).
/// Runs at open, before the writer starts, on the migrations' connection.
pub(super) async fn incremental_vacuum_on(conn: &mut sqlx::SqliteConnection) -> StoreResult<()> {
    let mode: i64 = sqlx::query_scalar("pragma auto_vacuum")
        .fetch_one(&mut *conn)
        .await?;
    if mode == 2 {
        return Ok(());
    }
    let started = std::time::Instant::now();
    sqlx::query("pragma auto_vacuum = incremental")
        .execute(&mut *conn)
        .await?;
    sqlx::query("pragma temp_store = file")
        .execute(&mut *conn)
        .await?;
    sqlx::query("vacuum").execute(&mut *conn).await?;
    sqlx::query("pragma temp_store = memory")
        .execute(&mut *conn)
        .await?;
    tracing::info!(
        took_ms = started.elapsed().as_millis() as u64,
        "the database file now gives deleted rows' space back (auto_vacuum = incremental)"
    );
    Ok(())
}

/// Gives back the archiver's lease of a process that is gone (run when this process took
/// the file: `owner`); 1 if there was one.
pub(super) fn forget_lease(conn: &super::statements::Conn<'_>) -> StoreResult<u64> {
    Ok(conn.execute("delete from retention_lease", [])? as u64)
}

/// The batch's bound in the kind's terms (microseconds, the audit log's milliseconds).
fn bound(kind: HistoryKind, before: DateTime<Utc>) -> i64 {
    if kind.millis() {
        before.timestamp_millis()
    } else {
        micros(before)
    }
}

/// A JSON field of an archived row, as the column's SQL value.
fn field(row: &Value, name: &str) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match row.get(name) {
        None | Some(Value::Null) => V::Null,
        Some(Value::Bool(b)) => V::Integer(i64::from(*b)),
        Some(Value::Number(n)) => n.as_i64().map(V::Integer).unwrap_or(V::Null),
        Some(Value::String(s)) => V::Text(s.clone()),
        Some(other) => V::Text(other.to_string()),
    }
}

#[async_trait]
impl Retention for SqliteStore {
    async fn history_batch(
        &self,
        kind: HistoryKind,
        before: DateTime<Utc>,
        after: Id,
        limit: i64,
    ) -> StoreResult<Vec<HistoryRow>> {
        let rows = sqlx::query(&batch_sql(kind, &DIALECT))
            .bind(bound(kind, before))
            .bind(after)
            .bind(limit)
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| {
                let at: i64 = r.try_get("at")?;
                let text: String = r.try_get("row")?;
                Ok(HistoryRow {
                    id: r.try_get("id")?,
                    at: if kind.millis() {
                        DateTime::from_timestamp_millis(at).ok_or_else(|| {
                            StoreError::Corrupt(format!("timestamp {at} is out of range"))
                        })?
                    } else {
                        time(at)?
                    },
                    contact: r.try_get("contact")?,
                    row: serde_json::from_str(&text)
                        .map_err(|e| StoreError::Corrupt(format!("archived row: {e}")))?,
                })
            })
            .collect()
    }

    async fn remove_history(
        &self,
        kind: HistoryKind,
        before: DateTime<Utc>,
        ids: Vec<Id>,
    ) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let sql = remove_sql(kind, &DIALECT);
        let ids = Value::from(ids).to_string();
        let before = bound(kind, before);
        let now = micros(Utc::now());
        self.writer
            .run(move |conn| {
                let mut statement = conn.prepare_cached_text(&sql)?;
                Ok(if kind.keeps_row() {
                    statement.execute(params![ids, before, now])?
                } else {
                    statement.execute(params![ids, before])?
                } as u64)
            })
            .await
    }

    async fn restore_history(&self, kind: HistoryKind, rows: Vec<Value>) -> StoreResult<u64> {
        self.writer
            .run(move |conn| {
                let mut put = 0;
                for row in &rows {
                    put += match kind {
                        HistoryKind::InboundMessages => conn
                            .prepare_cached(
                                "insert into conversation_events (id, conversation_id, sender_id,
                                     provider_message_id, kind, payload, received_at, processed_at)
                                 select ?1, ?2, ?3, ?4, 'message', ?5, ?6, ?7
                                 where exists (select 1 from conversations where id = ?2)
                                 on conflict do nothing",
                            )?
                            .execute(params![
                                field(row, "id"),
                                field(row, "conversation_id"),
                                field(row, "sender_id"),
                                field(row, "provider_message_id"),
                                field(row, "payload"),
                                field(row, "received_at"),
                                field(row, "processed_at"),
                            ])?,
                        HistoryKind::OutboundMessages => conn
                            .prepare_cached(
                                "update outbound_messages set payload = ?2, fallback = ?3,
                                     archived_at = null
                                 where id = ?1 and archived_at is not null",
                            )?
                            .execute(params![
                                field(row, "id"),
                                field(row, "payload"),
                                field(row, "fallback"),
                            ])?,
                        other => return Err(not_restorable(other)),
                    } as u64;
                }
                Ok(put)
            })
            .await
    }

    async fn retention_lease(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let owner = owner.to_string();
        let (now, until) = (micros(now), micros(until));
        self.writer
            .run(move |conn| {
                let mut taken = conn.prepare_cached(
                    "insert into retention_lease (name, lease_owner, lease_until)
                     values ('archiver', ?1, ?3)
                     on conflict (name) do update
                         set lease_owner = excluded.lease_owner, lease_until = excluded.lease_until
                         where retention_lease.lease_owner = excluded.lease_owner
                            or retention_lease.lease_until <= ?2
                     returning lease_owner",
                )?;
                let mut rows = taken.query(params![owner, now, until])?;
                Ok(rows.next()?.is_some())
            })
            .await
    }

    async fn retire_months(&self, _kind: HistoryKind, _before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(0)
    }

    async fn reclaim_space(&self, pages: i64) -> StoreResult<i64> {
        if pages <= 0 {
            return Ok(0);
        }
        self.writer
            .run(move |conn| {
                let free = |c: &rusqlite::Connection| -> rusqlite::Result<i64> {
                    c.query_row("pragma freelist_count", [], |r| r.get(0))
                };
                let before = free(conn)?;
                let mut vacuum = conn.prepare(&format!("pragma incremental_vacuum({pages})"))?;
                let mut rows = vacuum.query([])?;
                while rows.next()?.is_some() {}
                drop(rows);
                Ok(before - free(conn)?)
            })
            .await
    }
}
