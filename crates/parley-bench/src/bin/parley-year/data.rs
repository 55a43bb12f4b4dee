//! The year of `parley-year`: events out of 20 numbers with times spread evenly over
//! the last 365 days, written straight into PostgreSQL in bulk (server-side
//! `generate_series`, in chunks), once into Parley's `events_out` (partitioned by month)
//! and once into a copy that is not partitioned (`events_out_flat`, with the index a
//! row-by-row retention walks), and the tables' sizes on disk.

use anyhow::Context;
use sqlx::PgPool;
use std::time::Instant;

/// Rows per statement while writing (each statement one transaction).
const CHUNK: u64 = 500_000;

/// The copy that is not partitioned: the same columns and rows, one table, with the
/// primary key and the time index a retention that deletes row by row walks.
pub const FLAT: &str = "events_out_flat";

/// Writes `rows` events out, evenly over the 365 days before now, of `senders` numbers (a
/// conversation per 50 events); returns the seconds it took.
pub async fn write_year(pool: &PgPool, rows: u64, senders: u32) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut from = 0u64;
    while from < rows {
        let to = (from + CHUNK).min(rows);
        sqlx::query(
            "insert into events_out (kind, at, conversation_id, sender_id, data)
             select case when i % 2 = 0 then 'message.received' else 'message.sent' end,
                    now() - interval '365 days' + make_interval(secs => i * 31536000.0 / $3),
                    1 + i / 50, 1 + i % $4,
                    jsonb_build_object(
                        'from', '+1555' || lpad((i % 100000)::text, 7, '0'),
                        'text', 'message ' || i || ' of the year, about an order and its delivery',
                        'sender', 1 + i % $4)
             from generate_series($1::bigint, $2::bigint - 1) as i",
        )
        .bind(from as i64)
        .bind(to as i64)
        .bind(rows as i64)
        .bind(i64::from(senders))
        .execute(pool)
        .await
        .with_context(|| format!("writing rows {from}..{to} of the year"))?;
        from = to;
        eprintln!("parley-year: {to} of {rows} rows written");
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Copies every event out into `FLAT`; returns the seconds it took.
pub async fn write_flat_copy(pool: &PgPool) -> anyhow::Result<f64> {
    let started = Instant::now();
    for statement in [
        format!("create table {FLAT} (like events_out including defaults)"),
        format!("insert into {FLAT} select * from events_out"),
        format!("alter table {FLAT} add primary key (id)"),
        format!("create index {FLAT}_at on {FLAT} (at)"),
        "analyze".to_string(),
    ] {
        sqlx::query(&statement)
            .execute(pool)
            .await
            .with_context(|| format!("running `{statement}`"))?;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Bytes on disk of `events_out` (every partition, with indexes) and of `FLAT`.
pub async fn sizes(pool: &PgPool) -> anyhow::Result<(i64, i64)> {
    let partitioned: i64 = sqlx::query_scalar(
        "select coalesce(sum(pg_total_relation_size(inhrelid)), 0)::bigint
         from pg_inherits where inhparent = 'events_out'::regclass",
    )
    .fetch_one(pool)
    .await?;
    let flat: i64 = sqlx::query_scalar(&format!("select pg_total_relation_size('{FLAT}')"))
        .fetch_one(pool)
        .await?;
    Ok((partitioned, flat))
}

/// Bytes on disk of a partitioned `table` (every partition, with indexes).
pub async fn sizes_of(pool: &PgPool, table: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "select coalesce(sum(pg_total_relation_size(inhrelid)), 0)::bigint
         from pg_inherits where inhparent = to_regclass($1)",
    )
    .bind(table)
    .fetch_one(pool)
    .await?)
}

/// Rows of `table` (`events_out` or `FLAT`) before `cutoff`, and from it on.
pub async fn counts(
    pool: &PgPool,
    table: &str,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<(i64, i64)> {
    Ok(sqlx::query_as(&format!(
        "select count(*) filter (where at < $1), count(*) filter (where at >= $1) from {table}"
    ))
    .bind(cutoff)
    .fetch_one(pool)
    .await?)
}

/// Deletes `table`'s rows before `cutoff` as a retention without partitions does: walking
/// the ids, `batch` rows per statement (each its own transaction, so the hot path's writes
/// go on between them). Returns the rows deleted and the statements it took.
pub async fn delete_in_batches(
    pool: &PgPool,
    table: &str,
    cutoff: chrono::DateTime<chrono::Utc>,
    batch: i64,
) -> anyhow::Result<(u64, u64)> {
    let (mut deleted, mut statements, mut after) = (0u64, 0u64, 0i64);
    loop {
        let (n, last): (i64, Option<i64>) = sqlx::query_as(&format!(
            "with gone as (
                 delete from {table} where at < $1 and id in (
                     select id from {table} where at < $1 and id > $2 order by id limit $3)
                 returning id)
             select count(*), max(id) from gone"
        ))
        .bind(cutoff)
        .bind(after)
        .bind(batch)
        .fetch_one(pool)
        .await
        .with_context(|| format!("deleting a batch of {table}"))?;
        statements += 1;
        deleted += n as u64;
        match last {
            Some(last) => after = last,
            None => return Ok((deleted, statements)),
        }
    }
}
