//! PostgreSQL's big tables partitioned by month (issue 60): old months are dropped whole,
//! not deleted row by row.
//!
//! Migration 0037 partitions `model_exchanges`, `events_out`, `event_deliveries` and
//! `audit_log` by UTC month of their time column, one table per month (`<table>_pYYYYMM`)
//! and a default one (`<table>_default`) for any row no month holds. This module keeps
//! months ahead of the clock (at connect and daily: `ensure_months_ahead`), creates past
//! months on demand (`ensure_months`, for data loaded with old times), and drops the months
//! entirely older than a time (`drop_months_before`, called by retention once their rows
//! are archived). Only the tables of `PARTITIONED` are touched: every name in a statement
//! here is built from that list and from numbers, never from input.
//!
//! The DDL runs under one advisory lock (processes starting together create each month
//! once) and a lock timeout: a month is created or dropped between the hot path's
//! statements, and a statement that would wait long for them gives up instead of stalling
//! them (it is tried again at the next start, day or retention run).

use super::PgStore;
use crate::store::{StoreError, StoreResult};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use sqlx::PgPool;

/// How a partitioned table's column counts time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    /// `timestamptz`.
    Time,
    /// Unix milliseconds in a `bigint` (`audit_log.at`).
    Millis,
}

/// A table partitioned by month: its name, its time column and how the column counts.
#[derive(Debug, Clone, Copy)]
struct Partitioned {
    table: &'static str,
    column: &'static str,
    clock: Clock,
    /// Whether a month holds rows retention must keep, so it is not dropped: SQL over the
    /// partition `{name}` and the month's bounds `{from}` and `{to}`. The rules of
    /// `HistoryKind::may_go`, written as index probes on the month.
    kept: &'static str,
}

/// The tables migration 0037 partitions by month.
const PARTITIONED: [Partitioned; 4] = [
    Partitioned {
        table: "model_exchanges",
        column: "created_at",
        clock: Clock::Time,
        // The ledger of model usage and cost: a month is dropped only once it is empty.
        kept: "exists (select 1 from {name})",
    },
    Partitioned {
        table: "events_out",
        column: "at",
        clock: Clock::Time,
        // Until every endpoint's cursor has passed it and none of its deliveries is pending
        // (a delivery's `event_at` is its event's: the same month).
        kept: "exists (select 1 from {name} t where t.id > (
                   select coalesce(min(last_event_id), 9223372036854775807) from event_cursors))
               or exists (select 1 from event_deliveries d where d.state = 'pending'
                          and d.event_at >= {from} and d.event_at < {to})",
    },
    Partitioned {
        table: "event_deliveries",
        column: "event_at",
        clock: Clock::Time,
        kept: "exists (select 1 from {name} where state = 'pending')",
    },
    Partitioned {
        table: "audit_log",
        column: "at",
        clock: Clock::Millis,
        kept: "false",
    },
];

/// The names of the tables partitioned by month.
pub const PARTITIONED_TABLES: [&str; 4] = [
    PARTITIONED[0].table,
    PARTITIONED[1].table,
    PARTITIONED[2].table,
    PARTITIONED[3].table,
];

/// Months created ahead of this one (at connect and daily), so a month is there well before
/// its first row.
pub(crate) const MONTHS_AHEAD: u32 = 3;

/// How long partition DDL waits for a table's lock before giving up (and trying again
/// after a pause): the hot path's statements queue behind a DDL that waits, so it never
/// waits long.
const LOCK_TIMEOUT: &str = "set local lock_timeout = '500ms'";

/// Attempts at a month's DDL while its tables are busy.
const ATTEMPTS: u32 = 5;

/// The SQLSTATE of a lock not had within `lock_timeout`.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Whether `e` is a lock not had within `LOCK_TIMEOUT` (worth another attempt).
fn busy(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(d))
        if d.code().as_deref() == Some(LOCK_NOT_AVAILABLE))
}

/// The pause before attempt `attempt + 1`.
async fn pause(attempt: u32) {
    tokio::time::sleep(std::time::Duration::from_millis(500 * u64::from(attempt))).await;
}

/// How often a running process makes sure of the months ahead.
const DAILY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A UTC calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    year: i32,
    /// 1 to 12.
    month: u32,
}

impl Month {
    /// The month `t` falls in.
    pub fn of(t: DateTime<Utc>) -> Month {
        Month {
            year: t.year(),
            month: t.month(),
        }
    }

    fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Its first instant.
    pub fn start(self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(self.year, self.month, 1, 0, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The first instant after it.
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    /// The name of `table`'s partition for this month.
    fn name(self, table: &str) -> String {
        format!("{table}_p{:04}{:02}", self.year, self.month)
    }

    /// The month of a partition's name (`<table>_pYYYYMM`), if it is one.
    fn of_name(table: &str, name: &str) -> Option<Month> {
        let digits = name.strip_prefix(table)?.strip_prefix("_p")?;
        if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let month = Month {
            year: digits[..4].parse().ok()?,
            month: digits[4..].parse().ok()?,
        };
        (1..=12).contains(&month.month).then_some(month)
    }
}

/// The SQL literal of instant `t` in `clock`'s terms.
fn literal(t: DateTime<Utc>, clock: Clock) -> String {
    match clock {
        Clock::Time => format!("'{}'", t.format("%Y-%m-%d %H:%M:%S+00")),
        Clock::Millis => t.timestamp_millis().to_string(),
    }
}

/// The table of `PARTITIONED` named `table`, or a plain error naming the ones there are.
fn partitioned(table: &str) -> StoreResult<Partitioned> {
    PARTITIONED
        .into_iter()
        .find(|p| p.table == table)
        .ok_or_else(|| {
            StoreError::Database(sqlx::Error::InvalidArgument(format!(
                "`{table}` is not a table partitioned by month; those are {}",
                PARTITIONED_TABLES.join(", ")
            )))
        })
}

/// The months `p` has a partition for, oldest first.
async fn months_of(pool: &PgPool, p: Partitioned) -> StoreResult<Vec<Month>> {
    let names: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_inherits i join pg_class c on c.oid = i.inhrelid
         where i.inhparent = to_regclass($1)",
    )
    .bind(p.table)
    .fetch_all(pool)
    .await?;
    let mut months: Vec<Month> = names
        .iter()
        .filter_map(|n| Month::of_name(p.table, n))
        .collect();
    months.sort();
    Ok(months)
}

/// Creates `p`'s partition for `month` unless it exists; rows of that month in the default
/// partition move into it. Returns whether it was created.
async fn ensure_month(pool: &PgPool, p: Partitioned, month: Month) -> StoreResult<bool> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx = pool.begin().await?;
        match create_month(&mut tx, p, month).await {
            Ok(created) => {
                tx.commit().await?;
                return Ok(created);
            }
            Err(e) if busy(&e) && attempt < ATTEMPTS => {
                drop(tx);
                pause(attempt).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// `ensure_month`'s statements, in the transaction `tx`.
async fn create_month(
    tx: &mut sqlx::PgConnection,
    p: Partitioned,
    month: Month,
) -> StoreResult<bool> {
    let name = month.name(p.table);
    let (table, column) = (p.table, p.column);
    let (from, to) = (
        literal(month.start(), p.clock),
        literal(month.end(), p.clock),
    );
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('parley.partitions', 0))")
        .execute(&mut *tx)
        .await?;
    sqlx::query(LOCK_TIMEOUT).execute(&mut *tx).await?;
    let exists: bool = sqlx::query_scalar("select to_regclass($1) is not null")
        .bind(&name)
        .fetch_one(&mut *tx)
        .await?;
    if exists {
        return Ok(false);
    }
    let in_default = format!("{table}_default where {column} >= {from} and {column} < {to}");
    let stranded: bool = sqlx::query_scalar(&format!("select exists(select 1 from {in_default})"))
        .fetch_one(&mut *tx)
        .await?;
    if stranded {
        // A month cannot be created while the default partition holds rows of it: they
        // move into the new table first, which is then attached.
        for statement in [
            format!("create table {name} (like {table} including defaults including constraints)"),
            format!("with moved as (delete from {in_default} returning *) insert into {name} select * from moved"),
            format!("alter table {table} attach partition {name} for values from ({from}) to ({to})"),
        ] {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
    } else {
        sqlx::query(&format!(
            "create table {name} partition of {table} for values from ({from}) to ({to})"
        ))
        .execute(&mut *tx)
        .await?;
    }
    Ok(true)
}

/// Creates every partitioned table's months from the month of `from` through the month of
/// `to` that do not exist yet. Returns how many were created.
pub(crate) async fn ensure_months(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<u32> {
    let mut created = 0;
    for p in PARTITIONED {
        let mut month = Month::of(from);
        while month <= Month::of(to) {
            created += u32::from(ensure_month(pool, p, month).await?);
            month = month.next();
        }
    }
    Ok(created)
}

/// Creates this month and the `MONTHS_AHEAD` next ones of every partitioned table.
pub(crate) async fn ensure_months_ahead(pool: &PgPool, now: DateTime<Utc>) -> StoreResult<u32> {
    let mut last = Month::of(now);
    for _ in 0..MONTHS_AHEAD {
        last = last.next();
    }
    ensure_months(pool, now, last.start()).await
}

/// Runs `ensure_months_ahead` once a day while `pool` is open (a process that runs for
/// months without a restart keeps its months ahead).
pub(crate) fn keep_months_ahead(pool: PgPool) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(DAILY).await;
            if pool.is_closed() {
                return;
            }
            if let Err(e) = ensure_months_ahead(&pool, Utc::now()).await {
                tracing::warn!(error = %e, "could not create the coming months' partitions; trying again tomorrow and at the next start (rows go to the default partition meanwhile)");
            }
        }
    });
}

/// What became of a month `drop_month` was asked to drop.
enum Dropped {
    /// Dropped, with the rows it held.
    Rows(u64),
    /// Kept: it holds rows retention must keep (`Partitioned::kept`).
    Kept,
}

/// Drops `p`'s partition for `month` unless it holds rows retention must keep. The month is
/// locked against writes first (`share`: reads and claims go on), checked and counted,
/// then detached (a brief exclusive lock on the parent, waited for at most
/// `LOCK_TIMEOUT`, tried again after a pause: a long statement on the table never holds
/// the hot path's writes queued behind the detach) and dropped, in one transaction.
async fn drop_month(pool: &PgPool, p: Partitioned, month: Month) -> StoreResult<Dropped> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx = pool.begin().await?;
        match detach_month(&mut tx, p, month).await {
            Ok(Dropped::Kept) => return Ok(Dropped::Kept),
            Ok(dropped) => {
                tx.commit().await?;
                return Ok(dropped);
            }
            Err(e) if busy(&e) && attempt < ATTEMPTS => {
                drop(tx);
                pause(attempt).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// `drop_month`'s statements, in the transaction `tx`.
async fn detach_month(
    tx: &mut sqlx::PgConnection,
    p: Partitioned,
    month: Month,
) -> StoreResult<Dropped> {
    let name = month.name(p.table);
    let kept = p
        .kept
        .replace("{name}", &name)
        .replace("{from}", &literal(month.start(), p.clock))
        .replace("{to}", &literal(month.end(), p.clock));
    sqlx::query(LOCK_TIMEOUT).execute(&mut *tx).await?;
    sqlx::query(&format!("lock table {name} in share mode"))
        .execute(&mut *tx)
        .await?;
    let keep: bool = sqlx::query_scalar(&format!("select {kept}"))
        .fetch_one(&mut *tx)
        .await?;
    if keep {
        return Ok(Dropped::Kept);
    }
    let held: i64 = sqlx::query_scalar(&format!("select count(*) from {name}"))
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(&format!("alter table {} detach partition {name}", p.table))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("drop table {name}"))
        .execute(&mut *tx)
        .await?;
    Ok(Dropped::Rows(u64::try_from(held).unwrap_or(0)))
}

/// Detaches and drops `table`'s monthly partitions that lie entirely before `before`,
/// returning the rows they held. `table` must be one of `PARTITIONED_TABLES`. A month that
/// still holds a row retention must keep (an event out an endpoint has not been sent, a
/// pending delivery, any model exchange: `Partitioned::kept`) stays; rows of the default partition
/// are not touched (retention deletes them, and those of a month it keeps, row by row).
pub(crate) async fn drop_months_before(
    pool: &PgPool,
    table: &str,
    before: DateTime<Utc>,
) -> StoreResult<u64> {
    let p = partitioned(table)?;
    let mut rows = 0u64;
    for month in months_of(pool, p).await? {
        if month.end() > before {
            break;
        }
        match drop_month(pool, p, month).await? {
            Dropped::Rows(n) => rows += n,
            Dropped::Kept => {
                tracing::info!(table = p.table, month = %month.name(p.table), "a month past retention still holds rows that must stay; it is kept for now");
            }
        }
    }
    Ok(rows)
}

/// What the load benchmark and operators' tools use.
impl PgStore {
    /// Creates the monthly partitions from the month of `from` through the month of `to`
    /// (for history loaded with old times); rows of those months already in the default
    /// partition move into them. Returns how many were created.
    pub async fn ensure_months(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<u32> {
        ensure_months(&self.pool, from, to).await
    }

    /// Drops `table`'s months entirely before `before` (see `drop_months_before`).
    pub async fn drop_months_before(&self, table: &str, before: DateTime<Utc>) -> StoreResult<u64> {
        drop_months_before(&self.pool, table, before).await
    }

    /// The months `table` has a partition for, oldest first.
    pub async fn months(&self, table: &str) -> StoreResult<Vec<Month>> {
        months_of(&self.pool, partitioned(table)?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_name_their_partitions_and_read_back() {
        let m = Month::of(Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap());
        assert_eq!(m.name("events_out"), "events_out_p202612");
        assert_eq!(Month::of_name("events_out", "events_out_p202612"), Some(m));
        assert_eq!(m.end(), Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        for other in [
            "events_out_default",
            "events_out_p2026121",
            "events_out_p202613",
            "events_out_p2026a2",
            "audit_log_p202612",
        ] {
            assert_eq!(Month::of_name("events_out", other), None, "{other}");
        }
    }

    #[test]
    fn bounds_are_literals_in_the_columns_terms() {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        assert_eq!(literal(t, Clock::Time), "'2026-03-01 00:00:00+00'");
        assert_eq!(literal(t, Clock::Millis), "1772323200000");
    }

    #[test]
    fn only_the_partitioned_tables_are_named() {
        assert!(partitioned("audit_log").is_ok());
        let e = partitioned("contacts; drop table contacts").unwrap_err();
        assert!(
            e.to_string()
                .contains("is not a table partitioned by month; those are model_exchanges"),
            "{e}"
        );
    }
}
