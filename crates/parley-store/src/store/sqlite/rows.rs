//! Turning SQLite rows into store values: INTEGER microseconds into `DateTime<Utc>`, TEXT
//! JSON into the domain types. A value that does not parse is `StoreError::Corrupt`. Also
//! the statements several concept files run (upserting a contact, inserting an outbound
//! message, recording its predicted cost): this is the leaf they all import, and it imports none of them.

use super::statements::Conn;
use crate::domain::pricing::CostPrediction;
use crate::domain::{Contact, Conversation};
use crate::store::apply;
use crate::store::{NewOutbound, StoreError, StoreResult};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;

/// Reading columns by name from either driver's row: sqlx's (the reader pool) or
/// rusqlite's (the writer thread), so each row shape is decoded in one place.
pub(super) trait Cols {
    fn int(&self, column: &str) -> StoreResult<i64>;
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>>;
    fn text(&self, column: &str) -> StoreResult<String>;
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>>;
}

macro_rules! cols {
    ($row:ty, $get:ident) => {
        impl Cols for $row {
            fn int(&self, column: &str) -> StoreResult<i64> {
                Ok(self.$get(column)?)
            }
            fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
                Ok(self.$get(column)?)
            }
            fn text(&self, column: &str) -> StoreResult<String> {
                Ok(self.$get(column)?)
            }
            fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
                Ok(self.$get(column)?)
            }
        }
    };
}
cols!(SqliteRow, try_get);
cols!(rusqlite::Row<'_>, get);

/// A rusqlite row copied out by column name, so its JSON can be parsed after the writer
/// thread moved on (rusqlite rows borrow their statement).
pub(super) struct Captured(Vec<(Cow<'static, str>, rusqlite::types::Value)>);

impl Captured {
    pub(super) fn of(row: &rusqlite::Row<'_>) -> StoreResult<Self> {
        let statement = row.as_ref();
        let count = statement.column_count();
        let mut values = Vec::with_capacity(count);
        for i in 0..count {
            values.push((
                column_name(statement.column_name(i)?),
                row.get::<_, rusqlite::types::Value>(i)?,
            ));
        }
        Ok(Self(values))
    }

    fn get(&self, column: &str) -> StoreResult<&rusqlite::types::Value> {
        self.0
            .iter()
            .find(|(name, _)| name == column)
            .map(|(_, v)| v)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {column}")))
    }
}

/// Column names kept for good per thread, at most this many: those of Parley's own
/// statements are a few dozen.
const COLUMN_NAMES_KEPT: usize = 256;

/// `name` as a string this thread keeps for good, so that copying a row out does not
/// allocate a string per column (13 per conversation loaded for a webhook); a new string
/// once `COLUMN_NAMES_KEPT` names are kept.
fn column_name(name: &str) -> Cow<'static, str> {
    thread_local! {
        static KEPT: RefCell<HashSet<&'static str>> = RefCell::new(HashSet::new());
    }
    KEPT.with(|kept| {
        let mut kept = kept.borrow_mut();
        if let Some(name) = kept.get(name) {
            return Cow::Borrowed(*name);
        }
        if kept.len() >= COLUMN_NAMES_KEPT {
            return Cow::Owned(name.to_string());
        }
        let name: &'static str = Box::leak(name.into());
        kept.insert(name);
        Cow::Borrowed(name)
    })
}

impl Cols for Captured {
    fn int(&self, column: &str) -> StoreResult<i64> {
        self.opt_int(column)?
            .ok_or_else(|| StoreError::Corrupt(format!("{column} is null")))
    }
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
        match self.get(column)? {
            rusqlite::types::Value::Null => Ok(None),
            rusqlite::types::Value::Integer(i) => Ok(Some(*i)),
            other => Err(StoreError::Corrupt(format!(
                "{column} is not an integer: {other:?}"
            ))),
        }
    }
    fn text(&self, column: &str) -> StoreResult<String> {
        self.opt_text(column)?
            .ok_or_else(|| StoreError::Corrupt(format!("{column} is null")))
    }
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
        match self.get(column)? {
            rusqlite::types::Value::Null => Ok(None),
            rusqlite::types::Value::Text(t) => Ok(Some(t.clone())),
            other => Err(StoreError::Corrupt(format!(
                "{column} is not text: {other:?}"
            ))),
        }
    }
}

pub(super) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(super) fn time(micros: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {micros} is out of range")))
}

pub(super) fn opt_time(micros: Option<i64>) -> StoreResult<Option<DateTime<Utc>>> {
    micros.map(time).transpose()
}

pub(super) fn json_text<T: Serialize + ?Sized>(what: &str, value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(super) fn from_text<T: DeserializeOwned>(what: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Columns: `id, sender_id, contact_id, last_inbound_at, state, created_at`.
pub(super) use crate::store::sql::CONVERSATION_COLUMNS;

pub(super) fn conversation(row: &impl Cols) -> StoreResult<Conversation> {
    Ok(Conversation {
        id: row.int("id")?,
        sender_id: row.int("sender_id")?,
        contact_id: row.int("contact_id")?,
        last_inbound_at: opt_time(row.opt_int("last_inbound_at")?)?,
        state: apply::conversation_state_text(&row.text("state")?),
        created_at: time(row.int("created_at")?)?,
    })
}

/// Columns: `id, key, name, attributes, tags, created_at, bsuid, username`, or under other names for the
/// id and creation time when joined with a conversation.
pub(super) fn contact(row: &impl Cols, id: &str, created_at: &str) -> StoreResult<Contact> {
    Ok(Contact {
        id: row.int(id)?,
        key: row.text("key")?,
        name: row.opt_text("name")?,
        attributes: from_text("contact attributes", &row.text("attributes")?)?,
        tags: from_text("contact tags", &row.text("tags")?)?,
        created_at: time(row.int(created_at)?)?,
        user_id: row.opt_text("bsuid")?,
        username: row.opt_text("username")?,
    })
}

/// Finds or creates a contact; an existing name is kept unless a new one is given.
pub(super) fn upsert_contact(
    conn: &Conn<'_>,
    key: &str,
    name: Option<&str>,
    now: i64,
) -> StoreResult<i64> {
    // Most messages come from a known contact whose name has not changed: found by a read,
    // the contact's page is not written again (an upsert rewrites the row even when
    // nothing changes, a WAL frame per message).
    let known: Option<i64> = conn
        .prepare_cached("select id from contacts where key = ?1 and (?2 is null or name is ?2)")?
        .query_row(params![key, name], |r| r.get(0))
        .optional()?;
    if let Some(id) = known {
        return Ok(id);
    }
    // A new name for a known contact, or a new contact. Not an upsert with `returning`:
    // SQLite builds a temporary b-tree for its row each time it runs. This thread is the
    // only writer, so nothing comes between the statements.
    let changed = conn
        .prepare_cached("update contacts set name = coalesce(?2, name) where key = ?1")?
        .execute(params![key, name])?;
    if changed == 1 {
        return Ok(conn
            .prepare_cached("select id from contacts where key = ?1")?
            .query_row([key], |r| r.get(0))?);
    }
    Ok(conn
        .prepare_cached(
            "insert into contacts (key, name, created_at, phone, bsuid)
             values (?1, ?2, ?3,
                     case when ?1 like 'bsuid:%' then null else ?1 end,
                     case when ?1 like 'bsuid:%' then substr(?1, 7) end)",
        )?
        .insert(params![key, name, now])?)
}

/// An outbound message serialised for insertion (done before the write job, so the
/// writer thread only binds text).
pub(super) struct OutboundRow {
    sender_id: i64,
    conversation_id: i64,
    payload: String,
    fallback: String,
    origin: &'static str,
    flow: Option<String>,
    step: Option<String>,
    cost: Option<CostPrediction>,
}

impl OutboundRow {
    pub(super) fn new(message: &NewOutbound) -> StoreResult<Self> {
        Ok(Self {
            sender_id: message.sender_id,
            conversation_id: message.conversation_id,
            payload: json_text("outbound payload", &message.message)?,
            fallback: json_text("outbound fallback", &message.fallback)?,
            origin: message.origin.as_str(),
            flow: message.flow.clone(),
            step: message.step.clone(),
            cost: message.cost.clone(),
        })
    }

    /// Inserts the message, ready to send at `now`, with its predicted cost in the
    /// ledger, and returns its id.
    pub(super) fn insert(&self, conn: &Conn<'_>, now: i64) -> StoreResult<i64> {
        self.insert_leased(conn, now, None)
    }

    /// `insert`, the message leased to `lease` (owner, until) in the same statement when
    /// given: handed to that owner's outbox rather than left for a claim.
    pub(super) fn insert_leased(
        &self,
        conn: &Conn<'_>,
        now: i64,
        lease: Option<(&str, i64)>,
    ) -> StoreResult<i64> {
        let (lease_owner, lease_until) = lease.unzip();
        // `insert` gives the new row's id; `returning id` would build a temporary b-tree for
        // its one row each time it runs (about ten allocations and a pager).
        let id = conn
            .prepare_cached(
                "insert into outbound_messages
                     (sender_id, conversation_id, payload, fallback, origin, status,
                      next_attempt_at, created_at, updated_at, flow, step,
                      lease_owner, lease_until)
                 values (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?6, ?6, ?7, ?8, ?9, ?10)",
            )?
            .insert(params![
                self.sender_id,
                self.conversation_id,
                self.payload,
                self.fallback,
                self.origin,
                now,
                self.flow,
                self.step,
                lease_owner,
                lease_until
            ])?;
        if let Some(cost) = &self.cost {
            record_prediction(conn, id, self.sender_id, cost, now)?;
        }
        Ok(id)
    }
}

/// Inserts a message ready to send at `now` and returns its id.
pub(super) fn insert_outbound(
    conn: &Conn<'_>,
    message: &NewOutbound,
    now: i64,
) -> StoreResult<i64> {
    OutboundRow::new(message)?.insert(conn, now)
}

/// Writes (or replaces) message `id`'s prediction, in the caller's transaction.
pub(super) fn record_prediction(
    conn: &Conn<'_>,
    id: i64,
    sender_id: i64,
    cost: &CostPrediction,
    now: i64,
) -> StoreResult<()> {
    conn.prepare_cached(
        "insert into message_costs (outbound_id, sender_id, market, currency,
             predicted_category, predicted_type, predicted_micros, rate_marketing,
             rate_utility, rate_authentication, rate_service, created_at, updated_at)
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)
         on conflict (outbound_id) do update set
             market = excluded.market, currency = excluded.currency,
             predicted_category = excluded.predicted_category,
             predicted_type = excluded.predicted_type,
             predicted_micros = excluded.predicted_micros,
             rate_marketing = excluded.rate_marketing, rate_utility = excluded.rate_utility,
             rate_authentication = excluded.rate_authentication,
             rate_service = excluded.rate_service, updated_at = excluded.updated_at",
    )?
    .execute(params![
        id,
        sender_id,
        cost.market,
        cost.currency,
        cost.category.as_str(),
        cost.pricing_type.as_str(),
        cost.price_micros,
        cost.rates.marketing,
        cost.rates.utility,
        cost.rates.authentication,
        cost.rates.service,
        now
    ])?;
    Ok(())
}
