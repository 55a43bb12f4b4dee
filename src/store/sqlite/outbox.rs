//! The outbox on SQLite: enqueue, head-of-line claims per conversation, send outcomes, and
//! stopped senders.

use super::rows::{self, from_text, json_text, micros, opt_time, time, OUTBOUND_COLUMNS};
use super::SqliteStore;
use crate::store::apply::lease_until;
use crate::store::{
    NewOutbound, OutboundRecord, OutboxItem, SendOutcome, SenderStop, StoreError, StoreResult,
};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use sqlx::Row;
use std::time::Duration;

/// A claimed row as read on the writer thread; its JSON is parsed after.
struct ClaimedRow {
    id: i64,
    sender_id: i64,
    conversation_id: i64,
    payload: String,
    fallback: String,
    attempts: i32,
    created_at: i64,
    last_inbound_at: Option<i64>,
}

/// A send outcome with its values ready to bind.
enum Update {
    Accepted {
        provider_message_id: String,
        converted: Option<String>,
    },
    Retry {
        at: i64,
        code: Option<i64>,
        title: String,
    },
    Failed {
        code: Option<i64>,
        title: String,
        window_closed: bool,
    },
    Skipped {
        reason: String,
    },
    Requeue,
}

/// Whether any status is waiting for its message: almost never, so the replay that
/// follows an accepted send is skipped with one cheap read.
fn has_early_statuses(conn: &Connection) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("select exists (select 1 from early_statuses)")?
        .query_row([], |r| r.get(0))?)
}

/// An outbound message serialised for insertion (done before the write job, so the
/// writer thread only binds text).
pub(super) struct OutboundRow {
    sender_id: i64,
    conversation_id: i64,
    payload: String,
    fallback: String,
    origin: &'static str,
}

impl OutboundRow {
    pub(super) fn new(message: &NewOutbound) -> StoreResult<Self> {
        Ok(Self {
            sender_id: message.sender_id,
            conversation_id: message.conversation_id,
            payload: json_text("outbound payload", &message.message)?,
            fallback: json_text("outbound fallback", &message.fallback)?,
            origin: message.origin.as_str(),
        })
    }

    /// Inserts the message, ready to send at `now`, and returns its id.
    pub(super) fn insert(&self, conn: &Connection, now: i64) -> StoreResult<i64> {
        Ok(conn
            .prepare_cached(
                "insert into outbound_messages
                     (sender_id, conversation_id, payload, fallback, origin, status,
                      next_attempt_at, created_at, updated_at)
                 values (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?6, ?6)
                 returning id",
            )?
            .query_row(
                params![
                    self.sender_id,
                    self.conversation_id,
                    self.payload,
                    self.fallback,
                    self.origin,
                    now
                ],
                |r| r.get(0),
            )?)
    }
}

/// Inserts a message ready to send at `now` and returns its id.
pub(super) fn insert_outbound(
    conn: &Connection,
    message: &NewOutbound,
    now: i64,
) -> StoreResult<i64> {
    OutboundRow::new(message)?.insert(conn, now)
}

impl SqliteStore {
    pub(super) async fn enqueue_all(
        &self,
        messages: &[NewOutbound],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<i64>> {
        let rows = messages
            .iter()
            .map(OutboundRow::new)
            .collect::<StoreResult<Vec<_>>>()?;
        let now = micros(now);
        self.writer
            .run(move |conn| rows.iter().map(|row| row.insert(conn, now)).collect())
            .await
    }

    pub(super) async fn claim_sends(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<OutboxItem>> {
        let owner = owner.to_owned();
        let until = micros(lease_until(now, lease));
        let now = micros(now);
        // A message still `queued` blocks its conversation's later messages, in flight or
        // not, so replies leave in the order the flow produced them.
        let rows = self
            .writer
            .run(move |conn| {
                conn.prepare_cached(
                    "update outbound_messages set lease_owner = ?1, lease_until = ?2
                     where id in (
                         select o.id from outbound_messages o
                         where o.status = 'queued'
                           and o.next_attempt_at <= ?3
                           and (o.lease_until is null or o.lease_until <= ?3)
                           and not exists (select 1 from outbound_messages older
                                           where older.conversation_id = o.conversation_id
                                             and older.status = 'queued' and older.id < o.id)
                           and not exists (select 1 from sender_stops s where s.sender_id = o.sender_id)
                         order by o.next_attempt_at, o.id
                         limit ?4)
                     returning id, sender_id, conversation_id, payload, fallback, attempts, created_at,
                         (select last_inbound_at from conversations c
                          where c.id = outbound_messages.conversation_id) as last_inbound_at",
                )?
                .query_map(params![owner, until, now, limit], |r| {
                    Ok(ClaimedRow {
                        id: r.get(0)?,
                        sender_id: r.get(1)?,
                        conversation_id: r.get(2)?,
                        payload: r.get(3)?,
                        fallback: r.get(4)?,
                        attempts: r.get(5)?,
                        created_at: r.get(6)?,
                        last_inbound_at: r.get(7)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()
                .map_err(StoreError::from)
            })
            .await?;
        // Parsed here, off the writer thread.
        let mut items = rows
            .into_iter()
            .map(|row| {
                Ok(OutboxItem {
                    id: row.id,
                    sender_id: row.sender_id,
                    conversation_id: row.conversation_id,
                    message: from_text("outbound payload", &row.payload)?,
                    fallback: from_text("outbound fallback", &row.fallback)?,
                    attempts: row.attempts,
                    created_at: time(row.created_at)?,
                    last_inbound_at: opt_time(row.last_inbound_at)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        items.sort_by_key(|item| item.id);
        Ok(items)
    }

    pub(super) async fn record(
        &self,
        id: i64,
        owner: &str,
        outcome: &SendOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let owner = owner.to_owned();
        let now = micros(now);
        let update = match outcome {
            SendOutcome::Accepted {
                provider_message_id,
                converted_to,
            } => Update::Accepted {
                provider_message_id: provider_message_id.clone(),
                converted: converted_to
                    .as_ref()
                    .map(|c| json_text("outbound content", c))
                    .transpose()?,
            },
            SendOutcome::Retry { at, code, title } => Update::Retry {
                at: micros(*at),
                code: *code,
                title: title.clone(),
            },
            SendOutcome::Failed {
                code,
                title,
                window_closed,
            } => Update::Failed {
                code: *code,
                title: title.clone(),
                window_closed: *window_closed,
            },
            SendOutcome::Skipped { reason } => Update::Skipped {
                reason: reason.clone(),
            },
            SendOutcome::Requeue => Update::Requeue,
        };
        self.writer
            .run(move |conn| {
                let changed = match &update {
                    Update::Accepted {
                        provider_message_id,
                        converted,
                    } => conn
                        .prepare_cached(
                            "update outbound_messages set
                                 status = 'accepted', provider_message_id = ?3,
                                 payload = case when ?4 is null then payload
                                                else json_set(payload, '$.content', json(?4)) end,
                                 error_code = null, error_title = null,
                                 lease_owner = null, lease_until = null, updated_at = ?5
                             where id = ?1 and lease_owner = ?2",
                        )?
                        .execute(params![id, owner, provider_message_id, converted, now])?,
                    Update::Retry { at, code, title } => conn
                        .prepare_cached(
                            "update outbound_messages set
                                 attempts = attempts + 1, next_attempt_at = ?3, error_code = ?4,
                                 error_title = ?5, lease_owner = null, lease_until = null,
                                 updated_at = ?6
                             where id = ?1 and lease_owner = ?2",
                        )?
                        .execute(params![id, owner, at, code, title, now])?,
                    Update::Failed {
                        code,
                        title,
                        window_closed,
                    } => conn
                        .prepare_cached(
                            "update outbound_messages set
                                 status = 'failed', error_code = ?3, error_title = ?4,
                                 window_closed = ?5, lease_owner = null, lease_until = null,
                                 updated_at = ?6
                             where id = ?1 and lease_owner = ?2",
                        )?
                        .execute(params![id, owner, code, title, window_closed, now])?,
                    // The reason is kept as the record's error title.
                    Update::Skipped { reason } => conn
                        .prepare_cached(
                            "update outbound_messages set
                                 status = 'skipped', error_title = ?3,
                                 lease_owner = null, lease_until = null, updated_at = ?4
                             where id = ?1 and lease_owner = ?2",
                        )?
                        .execute(params![id, owner, reason, now])?,
                    Update::Requeue => conn
                        .prepare_cached(
                            "update outbound_messages set lease_owner = null, lease_until = null
                             where id = ?1 and lease_owner = ?2",
                        )?
                        .execute(params![id, owner])?,
                };
                if changed == 0 {
                    return Err(StoreError::LeaseLost {
                        what: "outbound message",
                        id,
                    });
                }
                if matches!(update, Update::Accepted { .. }) && has_early_statuses(conn)? {
                    super::ingest::replay_early_statuses(conn, id)?;
                }
                Ok(())
            })
            .await
    }

    pub(super) async fn outbound_by_id(&self, id: i64) -> StoreResult<Option<OutboundRecord>> {
        let row = sqlx::query(&format!(
            "select {OUTBOUND_COLUMNS} from outbound_messages where id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(rows::outbound).transpose()
    }

    pub(super) async fn outbound_page(
        &self,
        conversation_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<OutboundRecord>> {
        sqlx::query(&format!(
            "select {OUTBOUND_COLUMNS} from outbound_messages
             where conversation_id = $1 and ($2 is null or id < $2)
             order by id desc
             limit $3"
        ))
        .bind(conversation_id)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(rows::outbound)
        .collect()
    }

    pub(super) async fn depth(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("select count(*) from outbound_messages where status = 'queued'")
                .fetch_one(&self.reader)
                .await?,
        )
    }

    pub(super) async fn stop(
        &self,
        sender_id: i64,
        code: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let reason = reason.to_owned();
        let now = micros(now);
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "insert into sender_stops (sender_id, code, reason, stopped_at)
                     values (?1, ?2, ?3, ?4)
                     on conflict (sender_id) do update set
                         code = excluded.code, reason = excluded.reason,
                         stopped_at = excluded.stopped_at",
                )?
                .execute(params![sender_id, code, reason, now])?;
                Ok(())
            })
            .await
    }

    pub(super) async fn resume(&self, sender_id: i64) -> StoreResult<()> {
        self.writer
            .run(move |conn| {
                conn.prepare_cached("delete from sender_stops where sender_id = ?1")?
                    .execute([sender_id])?;
                Ok(())
            })
            .await
    }

    pub(super) async fn stops(&self) -> StoreResult<Vec<SenderStop>> {
        sqlx::query(
            "select sender_id, code, reason, stopped_at from sender_stops order by sender_id",
        )
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(|row| {
            Ok(SenderStop {
                sender_id: row.try_get("sender_id")?,
                code: row.try_get("code")?,
                reason: row.try_get("reason")?,
                stopped_at: time(row.try_get("stopped_at")?)?,
            })
        })
        .collect()
    }
}
