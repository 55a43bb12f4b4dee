//! `Retention` on postgres: batches read and removed with plain statements (each removal
//! one short transaction of at most a batch of rows); several processes share one lease, so
//! only one of them archives. Autovacuum gives the space of deleted rows back.

use super::PgStore;
use crate::domain::Id;
use crate::store::retention::{batch_sql, not_restorable, remove_sql, Col, Dialect};
use crate::store::{HistoryKind, HistoryRow, Retention, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::Row;

const DIALECT: Dialect = Dialect {
    object: "jsonb_build_object",
    value,
    micros,
    params: ["$1", "$2", "$3"],
    id_in: "t.id = any({ids})",
    emptied_send: "payload = jsonb_set(t.payload, '{content}',
                       '{\"kind\":\"text\",\"body\":\"(archived)\"}'::jsonb),
                   archived_at = $3",
    emptied_exchange: "request = '{}'::jsonb, answer = null, archived_at = $3",
};

fn micros(col: &str) -> String {
    format!("cast(extract(epoch from {col}) * 1000000 as bigint)")
}

fn value(col: &str, kind: Col) -> String {
    match kind {
        Col::Int | Col::Text | Col::Json | Col::Bool => col.to_string(),
        Col::Stamp => micros(col),
    }
}

/// A time of an archived row (unix microseconds) as SQL: exact, unlike `to_timestamp`'s
/// floating point.
const STAMP: &str = "timestamptz 'epoch' + cast(";

fn stamp(param: &str) -> String {
    format!("{STAMP}{param} as bigint) * interval '1 microsecond'")
}

#[async_trait]
impl Retention for PgStore {
    async fn history_batch(
        &self,
        kind: HistoryKind,
        before: DateTime<Utc>,
        after: Id,
        limit: i64,
    ) -> StoreResult<Vec<HistoryRow>> {
        let sql = batch_sql(kind, &DIALECT);
        let query = sqlx::query(&sql);
        let query = if kind.millis() {
            query.bind(before.timestamp_millis())
        } else {
            query.bind(before)
        };
        let rows = query.bind(after).bind(limit).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let at: i64 = r.try_get("at")?;
                let at = if kind.millis() {
                    DateTime::from_timestamp_millis(at)
                } else {
                    DateTime::from_timestamp_micros(at)
                }
                .ok_or_else(|| StoreError::Corrupt(format!("timestamp {at} is out of range")))?;
                Ok(HistoryRow {
                    id: r.try_get("id")?,
                    at,
                    contact: r.try_get("contact")?,
                    row: r.try_get::<Json<Value>, _>("row")?.0,
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
        let query = sqlx::query(&sql).bind(ids);
        let query = if kind.millis() {
            query.bind(before.timestamp_millis())
        } else {
            query.bind(before)
        };
        let query = if kind.keeps_row() {
            query.bind(Utc::now())
        } else {
            query
        };
        Ok(query.execute(&self.pool).await?.rows_affected())
    }

    async fn restore_history(&self, kind: HistoryKind, rows: Vec<Value>) -> StoreResult<u64> {
        let inbound = format!(
            "insert into conversation_events (id, conversation_id, sender_id,
                 provider_message_id, kind, payload, received_at, processed_at)
             overriding system value
             select cast($1 as bigint), cast($2 as bigint), cast($3 as bigint), cast($4 as text),
                    'message', cast($5 as jsonb), {}, {}
             where exists (select 1 from conversations where id = cast($2 as bigint))
             on conflict do nothing",
            stamp("$6"),
            stamp("$7")
        );
        let mut tx = self.pool.begin().await?;
        let mut put = 0;
        for row in &rows {
            let int = |name: &str| row.get(name).and_then(Value::as_i64);
            let json = |name: &str| Json(row.get(name).cloned().unwrap_or(Value::Null));
            let done = match kind {
                HistoryKind::InboundMessages => sqlx::query(&inbound)
                    .bind(int("id"))
                    .bind(int("conversation_id"))
                    .bind(int("sender_id"))
                    .bind(row.get("provider_message_id").and_then(Value::as_str))
                    .bind(json("payload"))
                    .bind(int("received_at"))
                    .bind(int("processed_at"))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected(),
                HistoryKind::OutboundMessages => sqlx::query(
                    "update outbound_messages set payload = $2, fallback = $3, archived_at = null
                     where id = $1 and archived_at is not null",
                )
                .bind(int("id"))
                .bind(json("payload"))
                .bind(json("fallback"))
                .execute(&mut *tx)
                .await?
                .rows_affected(),
                other => return Err(not_restorable(other)),
            };
            put += done;
        }
        tx.commit().await?;
        Ok(put)
    }

    async fn retention_lease(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let taken = sqlx::query(
            "insert into retention_lease (name, lease_owner, lease_until)
             values ('archiver', $1, $3)
             on conflict (name) do update
                 set lease_owner = excluded.lease_owner, lease_until = excluded.lease_until
                 where retention_lease.lease_owner = excluded.lease_owner
                    or retention_lease.lease_until <= $2
             returning lease_owner",
        )
        .bind(owner)
        .bind(now)
        .bind(until)
        .fetch_optional(&self.pool)
        .await?;
        Ok(taken.is_some())
    }

    async fn retire_months(&self, kind: HistoryKind, before: DateTime<Utc>) -> StoreResult<u64> {
        if !super::partitions::PARTITIONED_TABLES.contains(&kind.table()) {
            return Ok(0);
        }
        super::partitions::drop_months_before(&self.pool, kind.table(), before).await
    }

    async fn reclaim_space(&self, _pages: i64) -> StoreResult<i64> {
        Ok(0)
    }
}
