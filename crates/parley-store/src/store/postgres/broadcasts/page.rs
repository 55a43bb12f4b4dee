//! One page of a broadcast queued as sends, in the caller's transaction: the next pending
//! recipients read, the portfolio's messaging limit counted under its advisory lock, each
//! send's time (`pair_gap` after the conversation's latest) and predicted cost decided,
//! then the sends, their costs and the customers reached written as column groups.

use super::super::column_groups::{columns, Group, Numbering};
use super::super::rows::CostColumns;
use super::later;
use crate::domain::broadcast::REACH_WINDOW_HOURS;
use crate::domain::pricing::CostPrediction;
use crate::store::{Id, PageOutcome, SendPricing, StoreResult};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};
use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

type Tx<'t> = Transaction<'t, Postgres>;

/// When a page is queued, and how its sends are spaced and answered.
pub(super) struct Timing {
    pub pair_gap: Duration,
    pub reply_window: Duration,
    pub now: DateTime<Utc>,
}

/// A page's outcome, with what its sends are predicted to cost (counted once committed).
pub(super) struct Page {
    pub outcome: PageOutcome,
    pub sender_id: i64,
    pub costs: Vec<CostPrediction>,
}

/// What a page needs of its broadcast.
struct Settings {
    sender_id: i64,
    portfolio: Option<String>,
    cap: Option<i64>,
    prepared: bool,
    reply_flow: Option<String>,
}

columns! {
    /// The sends of a page, one per recipient.
    struct SendRows<'a> {
        recipient: i64 => "bigint",
        conversation: i64 => "bigint",
        payload: String => "text",
        due: DateTime<Utc> => "timestamptz",
    }
}

/// The sends decided for a page, and the customers it reaches for the first time in
/// `REACH_WINDOW_HOURS` (counted against the portfolio's limit).
#[derive(Default)]
struct Plan<'a> {
    sends: SendRows<'a>,
    costs: Vec<CostPrediction>,
    reach: Vec<Id>,
    /// The limit was reached before the page's end.
    limit_reached: bool,
}

pub(super) async fn queue_page(
    tx: &mut Tx<'_>,
    id: Id,
    limit: i64,
    timing: &Timing,
    pricing: &SendPricing,
) -> StoreResult<Page> {
    let now = timing.now;
    let b = settings(tx, id).await?;
    let pending = pending(tx, id, limit).await?;
    let page = |outcome, costs| Page {
        outcome,
        sender_id: b.sender_id,
        costs,
    };
    if pending.is_empty() {
        if !b.prepared {
            return Ok(page(PageOutcome::Queued(0), Vec::new()));
        }
        sqlx::query(
            "update broadcasts set state = 'done', lease_owner = null,
                 lease_until = null, updated_at = $2
             where id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        return Ok(page(PageOutcome::Finished, Vec::new()));
    }
    let since = now - chrono::Duration::hours(REACH_WINDOW_HOURS);
    let (reached, last_reach) = reach_so_far(tx, &b, &pending, since).await?;
    let Plan {
        sends,
        costs,
        reach,
        limit_reached,
    } = plan(&pending, &b, reached, &last_reach, since, timing, pricing)?;
    let queued = sends.recipient.len();
    if queued > 0 {
        let reply_until = b
            .reply_flow
            .as_ref()
            .map(|_| later(now, timing.reply_window));
        queue(tx, b.sender_id, sends, &costs, now, reply_until).await?;
    }
    if let (Some(p), false) = (&b.portfolio, reach.is_empty()) {
        sqlx::query(
            "insert into portfolio_reach (portfolio, contact_id, reached_at)
             select $1, c, $3 from unnest($2::bigint[]) as t(c)
             on conflict (portfolio, contact_id) do update set reached_at = excluded.reached_at",
        )
        .bind(p)
        .bind(&reach)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    if limit_reached {
        let until = wait_for_limit(tx, id, &b, since, now).await?;
        return Ok(page(PageOutcome::LimitReached { until, queued }, costs));
    }
    Ok(page(PageOutcome::Queued(queued), costs))
}

async fn settings(tx: &mut Tx<'_>, id: Id) -> StoreResult<Settings> {
    let b = sqlx::query(
        "select sender_id, portfolio, messaging_limit, prepared, reply_flow
         from broadcasts where id = $1",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Settings {
        sender_id: b.try_get("sender_id")?,
        portfolio: b.try_get("portfolio")?,
        cap: b.try_get("messaging_limit")?,
        prepared: b.try_get("prepared")?,
        reply_flow: b.try_get("reply_flow")?,
    })
}

/// The next `limit` pending recipients, with what deciding their sends needs.
async fn pending(tx: &mut Tx<'_>, id: Id, limit: i64) -> StoreResult<Vec<PgRow>> {
    Ok(sqlx::query(
        "select r.id, r.conversation_id, r.contact_id, r.payload::text as payload,
                v.last_inbound_at,
                (select max(case when o.status = 'queued' then o.next_attempt_at
                                 else o.updated_at end)
                 from outbound_messages o
                 where o.conversation_id = r.conversation_id
                   and o.status in ('queued', 'accepted', 'sent', 'delivered', 'read'))
                    as last_sent,
                (v.state -> 'entry_point')::text as entry_point
         from broadcast_recipients r
         left join conversations v on v.id = r.conversation_id
         where r.broadcast_id = $1 and r.state = 'pending'
         order by r.id limit $2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?)
}

/// The customers the portfolio reached since `since` (counted only under a limit), and
/// when each pending customer was reached last. Takes the portfolio's advisory lock, held
/// until the transaction ends.
async fn reach_so_far(
    tx: &mut Tx<'_>,
    b: &Settings,
    pending: &[PgRow],
    since: DateTime<Utc>,
) -> StoreResult<(i64, HashMap<Id, DateTime<Utc>>)> {
    let Some(p) = &b.portfolio else {
        return Ok((0, HashMap::new()));
    };
    let contact_ids: Vec<Id> = pending
        .iter()
        .map(|r| r.try_get("contact_id"))
        .collect::<Result<_, _>>()?;
    sqlx::query("select pg_advisory_xact_lock(hashtext('parley.portfolio.' || $1))")
        .bind(p)
        .execute(&mut **tx)
        .await?;
    let count: i64 = match b.cap {
        Some(_) => {
            sqlx::query_scalar(
                "select count(*) from portfolio_reach
                 where portfolio = $1 and reached_at > $2",
            )
            .bind(p)
            .bind(since)
            .fetch_one(&mut **tx)
            .await?
        }
        None => 0,
    };
    let rows = sqlx::query(
        "select contact_id, reached_at from portfolio_reach
         where portfolio = $1 and contact_id = any($2)",
    )
    .bind(p)
    .bind(&contact_ids)
    .fetch_all(&mut **tx)
    .await?;
    let map = rows
        .iter()
        .map(|r| Ok((r.try_get("contact_id")?, r.try_get("reached_at")?)))
        .collect::<StoreResult<_>>()?;
    Ok((count, map))
}

/// Each pending recipient's send, in order, until the portfolio's limit is reached.
fn plan<'a>(
    pending: &[PgRow],
    b: &Settings,
    mut reached: i64,
    last_reach: &HashMap<Id, DateTime<Utc>>,
    since: DateTime<Utc>,
    timing: &Timing,
    pricing: &SendPricing,
) -> StoreResult<Plan<'a>> {
    let now = timing.now;
    let gap = chrono::Duration::from_std(timing.pair_gap).unwrap_or_default();
    let mut plan = Plan::default();
    for r in pending {
        let contact_id: Id = r.try_get("contact_id")?;
        let last_inbound: Option<DateTime<Utc>> = r.try_get("last_inbound_at")?;
        let outside = last_inbound.is_none_or(|at| at <= since);
        if b.portfolio.is_some()
            && outside
            && last_reach.get(&contact_id).is_none_or(|at| *at <= since)
        {
            if b.cap.is_some_and(|cap| reached >= cap) {
                plan.limit_reached = true;
                break;
            }
            reached += 1;
            plan.reach.push(contact_id);
        }
        let last_sent: Option<DateTime<Utc>> = r.try_get("last_sent")?;
        let payload: String = r.try_get("payload")?;
        let entry_point: Option<String> = r.try_get("entry_point")?;
        plan.costs
            .push(pricing.predict(&payload, last_inbound, entry_point.as_deref(), now)?);
        let sends = &mut plan.sends;
        sends.recipient.push(r.try_get("id")?);
        sends.conversation.push(r.try_get("conversation_id")?);
        sends.payload.push(payload);
        sends
            .due
            .push(last_sent.map_or(now, |last| now.max(last + gap)));
    }
    Ok(plan)
}

/// The statement of `queue`: the sends (`SendRows`), their costs (`CostColumns`, `n` the
/// recipient), then the sender, the time and the reply window's end, bound in that order.
static QUEUE_SENDS: LazyLock<String> = LazyLock::new(|| {
    let mut p = Numbering::default();
    let (sends, send_names) = (p.unnest::<SendRows>(), SendRows::names());
    let (costs, cost_names) = (p.unnest::<CostColumns>(), CostColumns::names());
    let (sender, now, reply_until) = (
        p.next("bigint"),
        p.next("timestamptz"),
        p.next("timestamptz"),
    );
    format!(
        "with sent as (
             insert into outbound_messages
                 (sender_id, conversation_id, payload, fallback, origin, status,
                  next_attempt_at, created_at, updated_at, broadcast_recipient)
             select {sender}, t.conversation, t.payload::jsonb, '{{\"action\":\"fail\"}}'::jsonb,
                    'broadcast', 'queued', t.due, {now}, {now}, t.recipient
             from {sends} as t({send_names})
             returning id, broadcast_recipient
         ), costs as (
             insert into message_costs (outbound_id, sender_id, market, currency,
                 predicted_category, predicted_type, predicted_micros, rate_marketing,
                 rate_utility, rate_authentication, rate_service, created_at, updated_at)
             select sent.id, {sender}, c.market, c.currency, c.category, c.kind, c.price,
                    c.rm, c.ru, c.ra, c.rs, {now}, {now}
             from sent
             join {costs} as c({cost_names}) on c.n = sent.broadcast_recipient
         )
         update broadcast_recipients b set state = 'queued', outbound_id = sent.id,
             queued_at = {now}, reply_until = {reply_until}
         from sent where b.id = sent.broadcast_recipient"
    )
});

/// Writes a page's sends with their costs, and stamps each customer reached as a scheduled
/// run stamps them, so a later broadcast's or schedule's `frequency_cap` counts this one.
async fn queue(
    tx: &mut Tx<'_>,
    sender_id: i64,
    sends: SendRows<'_>,
    predicted: &[CostPrediction],
    now: DateTime<Utc>,
    reply_until: Option<DateTime<Utc>>,
) -> StoreResult<()> {
    sqlx::query(
        "update contacts c set attributes =
             jsonb_set(c.attributes, '{last_reengaged_at}', to_jsonb($2::text))
         from conversations v where v.id = any($1::bigint[]) and c.id = v.contact_id",
    )
    .bind(&sends.conversation)
    .bind(now.to_rfc3339())
    .execute(&mut **tx)
    .await?;
    let mut costs = CostColumns::default();
    for (recipient, cost) in sends.recipient.iter().zip(predicted) {
        costs.push(*recipient, cost);
    }
    costs
        .bind(sends.bind(sqlx::query(&QUEUE_SENDS)))
        .bind(sender_id)
        .bind(now)
        .bind(reply_until)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Sets the broadcast to wait until the oldest reach of the portfolio's window leaves it,
/// and says why; returns that time.
async fn wait_for_limit(
    tx: &mut Tx<'_>,
    id: Id,
    b: &Settings,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<DateTime<Utc>> {
    let p = b.portfolio.clone().unwrap_or_default();
    let oldest: Option<DateTime<Utc>> = sqlx::query_scalar(
        "select min(reached_at) from portfolio_reach where portfolio = $1 and reached_at > $2",
    )
    .bind(&p)
    .bind(since)
    .fetch_one(&mut **tx)
    .await?;
    let resume = oldest.unwrap_or(now)
        + chrono::Duration::hours(REACH_WINDOW_HOURS)
        + chrono::Duration::microseconds(1);
    sqlx::query(
        "update broadcasts set wait_until = $2, wait_reason = $3, lease_owner = null,
             lease_until = null, updated_at = $4
         where id = $1",
    )
    .bind(id)
    .bind(resume)
    .bind(format!(
        "portfolio `{p}` reached its messaging limit of {} customers in 24 hours",
        b.cap.unwrap_or_default()
    ))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(resume)
}
