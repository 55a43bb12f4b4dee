//! Retention (issue 60): the history older than each kind's period (`retention:`), read in
//! small batches for the archive files and then deleted; never a waiting run's state, a
//! contact, or what insights and costs are computed from.
//!
//! What each kind may take (the backends' SQL says it again in `remove_history`, so a row
//! that became needed between the read and the delete stays):
//! - inbound messages and timer fires: `conversation_events` already processed (an
//!   unprocessed event is work a run waits for); timers not fired are never touched;
//! - outbound messages: sends no longer queued nor leased. Their row stays with the
//!   columns insights, costs and broadcasts count (status, flow, step, sender, error), its
//!   content replaced by `(archived)` and `archived_at` set: the counters stay exact;
//! - events out: events every endpoint's cursor has passed, with no pending delivery;
//! - webhook deliveries: delivered or parked ones;
//! - model exchanges: of events already processed; the row stays with its usage and cost,
//!   its request and answer emptied (`archived_at` set);
//! - the audit log.
//!
//! Conversations, contacts, timers, the counters (`flow_insights`, `experiment_insights`)
//! and the cost ledger (`message_costs`) are never archived.

use super::StoreResult;
use crate::domain::Id;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// A kind of history with its own period and its own folder in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HistoryKind {
    InboundMessages,
    OutboundMessages,
    TimerEvents,
    EventsOut,
    EventDeliveries,
    ModelExchanges,
    Audit,
}

/// How a column is read into the archive's JSON: the same JSON on both backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Col {
    Int,
    Text,
    /// JSON (TEXT on SQLite, jsonb on PostgreSQL): nested as JSON.
    Json,
    /// A time: unix microseconds (INTEGER on SQLite, timestamptz on PostgreSQL).
    Stamp,
    Bool,
}

use Col::*;

const EVENT_COLUMNS: &[(&str, Col)] = &[
    ("id", Int),
    ("conversation_id", Int),
    ("sender_id", Int),
    ("provider_message_id", Text),
    ("kind", Text),
    ("payload", Json),
    ("received_at", Stamp),
    ("processed_at", Stamp),
];

const OUTBOUND_COLUMNS: &[(&str, Col)] = &[
    ("id", Int),
    ("sender_id", Int),
    ("conversation_id", Int),
    ("payload", Json),
    ("fallback", Json),
    ("origin", Text),
    ("status", Text),
    ("provider_message_id", Text),
    ("error_code", Int),
    ("error_title", Text),
    ("window_closed", Bool),
    ("attempts", Int),
    ("deferrals", Int),
    ("broadcast_recipient", Int),
    ("flow", Text),
    ("step", Text),
    ("next_attempt_at", Stamp),
    ("created_at", Stamp),
    ("updated_at", Stamp),
];

const EVENTS_OUT_COLUMNS: &[(&str, Col)] = &[
    ("id", Int),
    ("kind", Text),
    ("at", Stamp),
    ("conversation_id", Int),
    ("sender_id", Int),
    ("data", Json),
];

const DELIVERY_COLUMNS: &[(&str, Col)] = &[
    ("id", Int),
    ("endpoint", Text),
    ("event_id", Int),
    ("kind", Text),
    ("conversation_id", Int),
    ("event_at", Stamp),
    ("state", Text),
    ("attempts", Int),
    ("last_attempt_at", Stamp),
    ("last_status", Int),
    ("last_error", Text),
    ("delivered_at", Stamp),
];

const EXCHANGE_COLUMNS: &[(&str, Col)] = &[
    ("id", Int),
    ("conversation_id", Int),
    ("event_id", Int),
    ("seq", Int),
    ("kind", Text),
    ("flow", Text),
    ("step", Text),
    ("model", Text),
    ("request", Json),
    ("answer", Json),
    ("error", Text),
    ("input_tokens", Int),
    ("output_tokens", Int),
    ("cost_micros", Int),
    ("latency_ms", Int),
    ("created_at", Stamp),
];

const AUDIT_COLUMNS: &[(&str, Col)] = &[
    ("id", Int),
    ("at", Int),
    ("actor", Text),
    ("via", Text),
    ("action", Text),
    ("target", Text),
    ("source", Text),
    ("status", Int),
    ("detail", Text),
];

impl HistoryKind {
    pub const ALL: [HistoryKind; 7] = [
        HistoryKind::InboundMessages,
        HistoryKind::OutboundMessages,
        HistoryKind::TimerEvents,
        HistoryKind::EventsOut,
        HistoryKind::EventDeliveries,
        HistoryKind::ModelExchanges,
        HistoryKind::Audit,
    ];

    /// The kind's folder in the archive and its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::InboundMessages => "inbound_messages",
            Self::OutboundMessages => "outbound_messages",
            Self::TimerEvents => "timer_events",
            Self::EventsOut => "events_out",
            Self::EventDeliveries => "event_deliveries",
            Self::ModelExchanges => "model_exchanges",
            Self::Audit => "audit_log",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The `retention:` key whose period applies.
    pub fn setting(self) -> &'static str {
        match self {
            Self::InboundMessages | Self::OutboundMessages => "messages",
            Self::TimerEvents => "timers",
            Self::EventsOut => "events",
            Self::EventDeliveries => "deliveries",
            Self::ModelExchanges => "model_exchanges",
            Self::Audit => "audit",
        }
    }

    /// Whether the row stays (its content emptied) rather than being deleted.
    pub fn keeps_row(self) -> bool {
        matches!(self, Self::OutboundMessages | Self::ModelExchanges)
    }

    /// Whether `parley archive restore` can put this kind back.
    pub fn restorable(self) -> bool {
        matches!(self, Self::InboundMessages | Self::OutboundMessages)
    }

    pub(crate) fn table(self) -> &'static str {
        match self {
            Self::InboundMessages | Self::TimerEvents => "conversation_events",
            Self::OutboundMessages => "outbound_messages",
            Self::EventsOut => "events_out",
            Self::EventDeliveries => "event_deliveries",
            Self::ModelExchanges => "model_exchanges",
            Self::Audit => "audit_log",
        }
    }

    pub(crate) fn columns(self) -> &'static [(&'static str, Col)] {
        match self {
            Self::InboundMessages | Self::TimerEvents => EVENT_COLUMNS,
            Self::OutboundMessages => OUTBOUND_COLUMNS,
            Self::EventsOut => EVENTS_OUT_COLUMNS,
            Self::EventDeliveries => DELIVERY_COLUMNS,
            Self::ModelExchanges => EXCHANGE_COLUMNS,
            Self::Audit => AUDIT_COLUMNS,
        }
    }

    /// The column whose time the period is counted from; the audit log's is in Unix
    /// milliseconds (`millis`), every other a time of the backend.
    pub(crate) fn time_column(self) -> &'static str {
        match self {
            Self::InboundMessages | Self::TimerEvents => "received_at",
            Self::OutboundMessages | Self::ModelExchanges => "created_at",
            Self::EventsOut | Self::Audit => "at",
            Self::EventDeliveries => "event_at",
        }
    }

    pub(crate) fn millis(self) -> bool {
        self == Self::Audit
    }

    /// Whether the row is the kind's and may go (SQL over the row as `t`; the same on both
    /// backends). Rows the kind keeps (`keeps_row`) are taken once (`archived_at`).
    pub(crate) fn may_go(self) -> &'static str {
        match self {
            Self::InboundMessages => "t.kind = 'message' and t.processed_at is not null",
            Self::TimerEvents => "t.kind = 'timer' and t.processed_at is not null",
            Self::OutboundMessages => {
                "t.archived_at is null and t.status <> 'queued' and t.lease_owner is null"
            }
            Self::EventsOut => {
                "not exists (select 1 from event_cursors c where c.last_event_id < t.id)
                 and not exists (select 1 from event_deliveries d
                                 where d.event_id = t.id and d.state = 'pending')"
            }
            Self::EventDeliveries => "t.state <> 'pending'",
            Self::ModelExchanges => {
                "t.archived_at is null and not exists (select 1 from conversation_events e
                     where e.id = t.event_id and e.processed_at is null)"
            }
            Self::Audit => "true",
        }
    }

    /// Whether the row has a conversation whose contact names it in the archive.
    pub(crate) fn has_conversation(self) -> bool {
        !matches!(self, Self::Audit)
    }
}

/// The text an archived send's content says in the database (`keeps_row`).
pub const ARCHIVED_TEXT: &str = "(archived)";

/// One row of history as it goes into the archive: the row's columns as JSON (`row`), its
/// id, its time and its contact's key (a phone like `+34…`, or `bsuid:…`) when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub id: Id,
    pub at: DateTime<Utc>,
    pub contact: Option<String>,
    pub row: Value,
}

/// Reading and deleting history past its retention period.
#[async_trait]
pub trait Retention: Send + Sync {
    /// The oldest rows of `kind` from before `before` that may go, with an id above
    /// `after`, by id, at most `limit`.
    async fn history_batch(
        &self,
        kind: HistoryKind,
        before: DateTime<Utc>,
        after: Id,
        limit: i64,
    ) -> StoreResult<Vec<HistoryRow>>;

    /// Deletes rows `ids` of `kind` (or empties them: `keeps_row`), each only if it is
    /// still from before `before` and may still go; how many went.
    async fn remove_history(
        &self,
        kind: HistoryKind,
        before: DateTime<Utc>,
        ids: Vec<Id>,
    ) -> StoreResult<u64>;

    /// Puts archived messages back (`restorable` kinds; `rows` as `HistoryRow::row`): an
    /// inbound message missing is inserted, a send's content put back; a row already there
    /// is left alone, so restoring twice changes nothing. How many were put back.
    async fn restore_history(&self, kind: HistoryKind, rows: Vec<Value>) -> StoreResult<u64>;

    /// Takes or renews the archiver's lease until `until` for `owner`: false while another
    /// process holds it.
    async fn retention_lease(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// After a pass over `kind` has archived and removed everything it may before `before`:
    /// drops the kind's whole months before `before` on PostgreSQL, where its table is
    /// partitioned by month (`postgres::partitions`; a month still holding a row that must
    /// stay is kept), so the space comes back at once; the rows they held. SQLite: 0.
    async fn retire_months(&self, kind: HistoryKind, before: DateTime<Utc>) -> StoreResult<u64>;

    /// Gives the space of deleted rows back to the file system, at most `pages` pages
    /// (SQLite's incremental vacuum; PostgreSQL's autovacuum does it itself); pages freed.
    async fn reclaim_space(&self, pages: i64) -> StoreResult<i64>;
}

/// How one backend writes what `batch_sql` and `remove_sql` need.
pub(crate) struct Dialect {
    /// The function that builds a JSON object (`json_object`, `jsonb_build_object`).
    pub object: &'static str,
    /// A column's JSON value, from its name (`t.name`) and kind.
    pub value: fn(&str, Col) -> String,
    /// A time column as unix microseconds.
    pub micros: fn(&str) -> String,
    /// The parameters `(before, after, limit)` of the batch, `(ids, before, now)` of the
    /// removal.
    pub params: [&'static str; 3],
    /// `t.id` among the removal's ids.
    pub id_in: &'static str,
    /// What an archived send's payload and an archived exchange's request and answer
    /// become (`keeps_row`), with `now` the third parameter.
    pub emptied_send: &'static str,
    pub emptied_exchange: &'static str,
}

/// The SELECT of `Retention::history_batch`: columns `id`, `at` (unix microseconds, or
/// milliseconds for the audit log), `contact` and `row` (the JSON object).
pub(crate) fn batch_sql(kind: HistoryKind, d: &Dialect) -> String {
    let [before, after, limit] = d.params;
    let time = kind.time_column();
    let fields = kind
        .columns()
        .iter()
        .map(|(name, col)| format!("'{name}', {}", (d.value)(&format!("t.{name}"), *col)))
        .collect::<Vec<_>>()
        .join(", ");
    let at = if kind.millis() {
        format!("t.{time}")
    } else {
        (d.micros)(&format!("t.{time}"))
    };
    let contact = if kind.has_conversation() {
        "(select k.key from conversations v join contacts k on k.id = v.contact_id
          where v.id = t.conversation_id)"
    } else {
        "cast(null as text)"
    };
    format!(
        "select t.id as id, {at} as at, {contact} as contact, {object}({fields}) as row
         from {table} t
         where t.{time} < {before} and t.id > {after} and {may_go}
         order by t.id limit {limit}",
        object = d.object,
        table = kind.table(),
        may_go = kind.may_go(),
    )
}

/// The statement of `Retention::remove_history`: deletes the rows, or empties the ones
/// the kind keeps.
pub(crate) fn remove_sql(kind: HistoryKind, d: &Dialect) -> String {
    let [ids, before, _] = d.params;
    let table = kind.table();
    let time = kind.time_column();
    let change = match kind {
        HistoryKind::OutboundMessages => format!("update {table} as t set {}", d.emptied_send),
        HistoryKind::ModelExchanges => format!("update {table} as t set {}", d.emptied_exchange),
        _ => format!("delete from {table} as t"),
    };
    format!(
        "{change} where {id_in} and t.{time} < {before} and {may_go}",
        id_in = d.id_in.replace("{ids}", ids),
        may_go = kind.may_go(),
    )
}

/// The error of restoring a kind that cannot be (`HistoryKind::restorable`).
pub(crate) fn not_restorable(kind: HistoryKind) -> super::StoreError {
    super::StoreError::Corrupt(format!(
        "{} cannot be restored: restore puts back inbound and outbound messages only",
        kind.name()
    ))
}
