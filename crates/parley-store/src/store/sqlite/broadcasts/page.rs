//! One page of a broadcast queued as sends, in the writer's transaction: the next pending
//! recipients read; for each, the portfolio's messaging limit counted (a customer outside
//! an open window reached for the first time in `REACH_WINDOW_HOURS`), the send queued
//! `gap` after the conversation's latest with its predicted cost, and the recipient and
//! the customer marked.

use super::super::rows::{opt_time, record_prediction, time};
use super::super::statements::Conn;
use super::DAY;
use crate::domain::pricing::CostPrediction;
use crate::store::{Id, PageOutcome, SendPricing, StoreResult};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

/// Which page of which broadcast, and when (`at`; microseconds below).
pub(super) struct Page {
    pub id: Id,
    pub limit: i64,
    pub at: DateTime<Utc>,
    /// The least time between two sends to one conversation.
    pub gap: i64,
    /// How long a recipient's reply goes to the broadcast's reply flow.
    pub reply: i64,
}

/// What a page needs of its broadcast.
struct Settings {
    sender_id: i64,
    portfolio: Option<String>,
    cap: Option<i64>,
    prepared: bool,
    reply_flow: Option<String>,
}

struct Pending {
    id: Id,
    conversation_id: Id,
    contact_id: Id,
    payload: String,
    last_inbound_at: Option<i64>,
    last_sent: Option<i64>,
    /// The conversation state's `entry_point`, as JSON text.
    entry_point: Option<String>,
}

/// Queues the page; each send's sender and prediction is added to `priced`.
pub(super) fn queue_page(
    conn: &Conn<'_>,
    page: &Page,
    pricing: &SendPricing,
    priced: &mut Vec<(i64, CostPrediction)>,
) -> StoreResult<PageOutcome> {
    let now = page.at.timestamp_micros();
    let b = settings(conn, page.id)?;
    let pending = pending(conn, page.id, page.limit)?;
    if pending.is_empty() {
        if !b.prepared {
            return Ok(PageOutcome::Queued(0));
        }
        conn.prepare_cached(
            "update broadcasts set state = 'done', lease_owner = null,
                 lease_until = null, updated_at = ?2
             where id = ?1",
        )?
        .execute(params![page.id, now])?;
        return Ok(PageOutcome::Finished);
    }
    let since = now - DAY;
    let mut reached: i64 = match (&b.portfolio, b.cap) {
        (Some(p), Some(_)) => conn
            .prepare_cached(
                "select count(*) from portfolio_reach
                 where portfolio = ?1 and reached_at > ?2",
            )?
            .query_row(params![p, since], |r| r.get(0))?,
        _ => 0,
    };
    let mut queued = 0usize;
    for p in &pending {
        // Only a customer outside an open window counts toward the limit.
        let outside = p.last_inbound_at.is_none_or(|at| at <= since);
        if let (Some(portfolio), true) = (&b.portfolio, outside) {
            if first_reach(conn, portfolio, p.contact_id, since)? {
                if b.cap.is_some_and(|cap| reached >= cap) {
                    let until = wait_for_limit(conn, page.id, &b, since, now)?;
                    return Ok(PageOutcome::LimitReached { until, queued });
                }
                conn.prepare_cached(
                    "insert into portfolio_reach (portfolio, contact_id, reached_at)
                     values (?1, ?2, ?3)
                     on conflict (portfolio, contact_id)
                     do update set reached_at = excluded.reached_at",
                )?
                .execute(params![portfolio, p.contact_id, now])?;
                reached += 1;
            }
        }
        let cost = pricing.predict(
            &p.payload,
            opt_time(p.last_inbound_at)?,
            p.entry_point.as_deref(),
            page.at,
        )?;
        queue_one(conn, page, &b, p, &cost)?;
        priced.push((b.sender_id, cost));
        queued += 1;
    }
    Ok(PageOutcome::Queued(queued))
}

fn settings(conn: &Conn<'_>, id: Id) -> StoreResult<Settings> {
    Ok(conn
        .prepare_cached(
            "select sender_id, portfolio, messaging_limit, prepared, reply_flow
             from broadcasts where id = ?1",
        )?
        .query_row([id], |r| {
            Ok(Settings {
                sender_id: r.get(0)?,
                portfolio: r.get(1)?,
                cap: r.get(2)?,
                prepared: r.get(3)?,
                reply_flow: r.get(4)?,
            })
        })?)
}

/// The next `limit` pending recipients, with what deciding their sends needs.
fn pending(conn: &Conn<'_>, id: Id, limit: i64) -> StoreResult<Vec<Pending>> {
    Ok(conn
        .prepare_cached(
            "select r.id, r.conversation_id, r.contact_id, r.payload,
                    v.last_inbound_at,
                    (select max(case when o.status = 'queued'
                                     then o.next_attempt_at
                                     else o.updated_at end)
                     from outbound_messages o
                     where o.conversation_id = r.conversation_id
                       and o.status in ('queued', 'accepted', 'sent',
                                        'delivered', 'read')),
                    json_extract(v.state, '$.entry_point')
             from broadcast_recipients r
             left join conversations v on v.id = r.conversation_id
             where r.broadcast_id = ?1 and r.state = 'pending'
             order by r.id limit ?2",
        )?
        .query_map(params![id, limit], |r| {
            Ok(Pending {
                id: r.get(0)?,
                conversation_id: r.get(1)?,
                contact_id: r.get(2)?,
                payload: r.get(3)?,
                last_inbound_at: r.get(4)?,
                last_sent: r.get(5)?,
                entry_point: r.get(6)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?)
}

/// Whether the portfolio has not reached `contact` since `since`.
fn first_reach(conn: &Conn<'_>, portfolio: &str, contact: Id, since: i64) -> StoreResult<bool> {
    let last: Option<i64> = conn
        .prepare_cached(
            "select reached_at from portfolio_reach
             where portfolio = ?1 and contact_id = ?2",
        )?
        .query_row(params![portfolio, contact], |r| r.get(0))
        .optional()?;
    Ok(last.is_none_or(|at| at <= since))
}

/// Sets the broadcast to wait until the oldest reach of the portfolio's window leaves it,
/// and says why; returns that time.
fn wait_for_limit(
    conn: &Conn<'_>,
    id: Id,
    b: &Settings,
    since: i64,
    now: i64,
) -> StoreResult<DateTime<Utc>> {
    let portfolio = b.portfolio.as_deref().unwrap_or_default();
    let oldest: i64 = conn
        .prepare_cached(
            "select coalesce(min(reached_at), ?2) from portfolio_reach
             where portfolio = ?1 and reached_at > ?2",
        )?
        .query_row(params![portfolio, since], |r| r.get(0))?;
    let resume = oldest + DAY + 1;
    conn.prepare_cached(
        "update broadcasts set wait_until = ?2, wait_reason = ?3,
             lease_owner = null, lease_until = null, updated_at = ?4
         where id = ?1",
    )?
    .execute(params![
        id,
        resume,
        format!(
            "portfolio `{portfolio}` reached its messaging limit of {} customers in 24 hours",
            b.cap.unwrap_or_default()
        ),
        now
    ])?;
    time(resume)
}

/// Queues one recipient's send with its predicted cost, marks the recipient queued, and
/// stamps the customer as a scheduled run stamps them, so a later broadcast's or
/// schedule's `frequency_cap` counts this one.
fn queue_one(
    conn: &Conn<'_>,
    page: &Page,
    b: &Settings,
    p: &Pending,
    cost: &CostPrediction,
) -> StoreResult<()> {
    let now = page.at.timestamp_micros();
    let due = p.last_sent.map_or(now, |last| now.max(last + page.gap));
    let outbound: Id = conn
        .prepare_cached(
            "insert into outbound_messages
                 (sender_id, conversation_id, payload, fallback, origin, status,
                  next_attempt_at, created_at, updated_at, broadcast_recipient)
             values (?1, ?2, ?3, '{\"action\":\"fail\"}', 'broadcast', 'queued',
                     ?4, ?5, ?5, ?6)
             returning id",
        )?
        .query_row(
            params![b.sender_id, p.conversation_id, p.payload, due, now, p.id],
            |r| r.get(0),
        )?;
    record_prediction(conn, outbound, b.sender_id, cost, now)?;
    conn.prepare_cached(
        "update broadcast_recipients set state = 'queued', outbound_id = ?2,
             queued_at = ?3, reply_until = ?4
         where id = ?1",
    )?
    .execute(params![
        p.id,
        outbound,
        now,
        b.reply_flow.as_ref().map(|_| now + page.reply)
    ])?;
    conn.prepare_cached(
        "update contacts set attributes =
             json_set(attributes, '$.last_reengaged_at', ?2)
         where id = (select contact_id from conversations where id = ?1)",
    )?
    .execute(params![p.conversation_id, page.at.to_rfc3339()])?;
    Ok(())
}
