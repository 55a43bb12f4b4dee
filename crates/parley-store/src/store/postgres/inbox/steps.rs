//! Group commit of steps without contact changes: a batch of steps as ONE statement
//! (`commit_together`), each refused step retried alone for its own answer.

use super::super::column_groups::{columns, unnest, Group, Numbering, PgQuery};
use crate::domain::{ConversationState, OutboundMessage, TimerKind, WindowFallback};
use crate::store::{Committed, OutboxItem, StepCommit, StoreError, StoreResult};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgPool, Row};
use std::sync::LazyLock;

/// A step without contact changes waiting for group commit, with the time until which its
/// first reply is leased to the step's owner if it is its conversation's next to leave
/// (`None`: leave it to the outbox's claims).
#[derive(Debug, Clone)]
pub(in crate::store::postgres) struct StepJob {
    pub step: StepCommit,
    pub hand_until: Option<DateTime<Utc>>,
}

/// One step without contact changes through the batch statement of `commit_together`,
/// and, when it is refused, why.
async fn commit_one(pool: &PgPool, job: &StepJob) -> StoreResult<Committed> {
    if let Some((_, committed)) = commit_together(pool, std::slice::from_ref(job), &[0])
        .await?
        .pop()
    {
        return Ok(committed);
    }
    let step = &job.step;
    // Refused: say why.
    let held: Option<bool> = sqlx::query_scalar(
        "select lease_owner = $2 and lease_until > $3 from conversations where id = $1",
    )
    .bind(step.conversation_id)
    .bind(&step.owner)
    .bind(step.now)
    .fetch_optional(pool)
    .await?
    .flatten();
    Err(if held == Some(true) {
        StoreError::NotFound {
            what: "unprocessed event",
            id: step.event_id,
        }
    } else {
        StoreError::LeaseLost {
            what: "conversation",
            id: step.conversation_id,
        }
    })
}

/// Group commit of steps without contact changes: the whole batch as ONE statement (see
/// `batch.rs` and `commit_together`). A refused step, a conversation that appears twice,
/// and every step of a batch whose statement failed are committed one by one afterwards,
/// which gives each its own answer.
pub(in crate::store::postgres) async fn commit_steps(
    pool: PgPool,
    steps: Vec<StepJob>,
) -> Vec<StoreResult<Committed>> {
    let pool = &pool;
    if steps.len() == 1 {
        return vec![commit_one(pool, &steps[0]).await];
    }
    let mut seen = std::collections::HashSet::with_capacity(steps.len());
    let together: Vec<usize> = (0..steps.len())
        .filter(|&i| seen.insert(steps[i].step.conversation_id))
        .collect();
    let mut results: Vec<Option<StoreResult<Committed>>> = (0..steps.len()).map(|_| None).collect();
    match commit_together(pool, &steps, &together).await {
        Ok(committed) => {
            for (i, c) in committed {
                results[i] = Some(Ok(c));
            }
        }
        Err(e) => {
            crate::metrics::logs::log_every!(warn, error = %e, steps = together.len(), "a batch of steps failed as a whole; committing them one by one");
        }
    }
    for (i, step) in steps.iter().enumerate() {
        if results[i].is_none() {
            results[i] = Some(commit_one(pool, step).await);
        }
    }
    results
        .into_iter()
        .map(|r| r.expect("every step has a result"))
        .collect()
}

columns! {
    /// The steps, one row each; `with ordinality` numbers them `n` (1-based), which the
    /// other groups' rows name.
    struct StepRows<'a> {
        conversation_id: i64 => "bigint",
        owner: &'a str => "text",
        event_id: i64 => "bigint",
        state: Json<&'a ConversationState> => "jsonb",
        now: DateTime<Utc> => "timestamptz",
        release: bool => "bool",
        hand_until: Option<DateTime<Utc>> => "timestamptz",
        queued_at: DateTime<Utc> => "timestamptz",
    }
}

columns! {
    /// The kinds of timer each step cancels.
    struct CancelRows<'a> {
        n: i64 => "bigint",
        purpose: String => "text",
    }
}

columns! {
    /// The timers each step sets.
    struct TimerRows<'a> {
        n: i64 => "bigint",
        purpose: String => "text",
        due_at: DateTime<Utc> => "timestamptz",
        payload: Json<serde_json::Value> => "jsonb",
    }
}

columns! {
    /// The replies each step queues, in order; `first` marks a step's first.
    struct OutboundRows<'a> {
        n: i64 => "bigint",
        sender_id: i64 => "bigint",
        conversation_id: i64 => "bigint",
        payload: Json<&'a OutboundMessage> => "jsonb",
        fallback: Json<&'a WindowFallback> => "jsonb",
        origin: &'a str => "text",
        flow: Option<&'a str> => "text",
        step: Option<&'a str> => "text",
        first: bool => "bool",
    }
}

columns! {
    /// Each reply's predicted cost, in the replies' order (nulls where it has none).
    struct CostRows<'a> {
        n: i64 => "bigint",
        sender_id: i64 => "bigint",
        market: Option<&'a str> => "text",
        currency: Option<&'a str> => "text",
        category: Option<&'static str> => "text",
        kind: Option<&'static str> => "text",
        price: Option<i64> => "bigint",
        rm: Option<i64> => "bigint",
        ru: Option<i64> => "bigint",
        ra: Option<i64> => "bigint",
        rs: Option<i64> => "bigint",
    }
}

columns! {
    /// The insight counters each step adds to, in its hour.
    struct InsightRows<'a> {
        n_step: i64 => "bigint",
        hour: i64 => "bigint",
        flow: &'a str => "text",
        step: &'a str => "text",
        what: &'static str => "text",
        n: i64 => "bigint",
    }
}

columns! {
    /// The experiment arms' counters each step adds to, in its hour.
    struct ArmRows<'a> {
        n_step: i64 => "bigint",
        hour: i64 => "bigint",
        experiment: &'a str => "text",
        arm: &'a str => "text",
        step: &'a str => "text",
        what: &'static str => "text",
        n: i64 => "bigint",
    }
}

columns! {
    /// The events out each step tells of, in order.
    struct EventRows<'a> {
        n: i64 => "bigint",
        kind: &'static str => "text",
        at: DateTime<Utc> => "timestamptz",
        conversation_id: Option<i64> => "bigint",
        sender_id: Option<i64> => "bigint",
        data: Json<&'a serde_json::Value> => "jsonb",
    }
}

/// The rows of a batch's steps, by group, in the order `COMMIT_TOGETHER` binds them.
#[derive(Default)]
struct Batch<'a> {
    steps: StepRows<'a>,
    cancels: CancelRows<'a>,
    timers: TimerRows<'a>,
    outbound: OutboundRows<'a>,
    costs: CostRows<'a>,
    insights: InsightRows<'a>,
    arms: ArmRows<'a>,
    events: EventRows<'a>,
}

impl<'a> Batch<'a> {
    fn push(&mut self, n: i64, job: &'a StepJob) {
        let step = &job.step;
        let s = &mut self.steps;
        s.conversation_id.push(step.conversation_id);
        s.owner.push(&step.owner);
        s.event_id.push(step.event_id);
        s.state.push(Json(&step.state));
        s.now.push(step.now);
        s.release.push(step.release);
        s.hand_until.push(job.hand_until);
        s.queued_at.push(step.queued_at);
        for purpose in purposes(&step.cancel_timers) {
            self.cancels.n.push(n);
            self.cancels.purpose.push(purpose);
        }
        for t in &step.timers {
            let (purpose, payload) = t.timer.to_row();
            self.timers.n.push(n);
            self.timers.purpose.push(purpose);
            self.timers.due_at.push(t.due_at);
            self.timers.payload.push(Json(payload));
        }
        for (i, m) in step.outbound.iter().enumerate() {
            let o = &mut self.outbound;
            o.n.push(n);
            o.sender_id.push(m.sender_id);
            o.conversation_id.push(m.conversation_id);
            o.payload.push(Json(&m.message));
            o.fallback.push(Json(&m.fallback));
            o.origin.push(m.origin.as_str());
            o.flow.push(m.flow.as_deref());
            o.step.push(m.step.as_deref());
            o.first.push(i == 0);
            let (c, cost) = (&mut self.costs, m.cost.as_ref());
            c.n.push(n);
            c.sender_id.push(m.sender_id);
            c.market.push(cost.map(|c| c.market.as_str()));
            c.currency.push(cost.map(|c| c.currency.as_str()));
            c.category.push(cost.map(|c| c.category.as_str()));
            c.kind.push(cost.map(|c| c.pricing_type.as_str()));
            c.price.push(cost.map(|c| c.price_micros));
            c.rm.push(cost.map(|c| c.rates.marketing));
            c.ru.push(cost.map(|c| c.rates.utility));
            c.ra.push(cost.map(|c| c.rates.authentication));
            c.rs.push(cost.map(|c| c.rates.service));
        }
        let hour = crate::domain::insight::hour_of(step.now);
        for count in step.insights.sorted() {
            let i = &mut self.insights;
            i.n_step.push(n);
            i.hour.push(hour);
            i.flow.push(&count.flow);
            i.step.push(&count.step);
            i.what.push(count.what);
            i.n.push(count.n);
        }
        for count in step.insights.sorted_arms() {
            let a = &mut self.arms;
            a.n_step.push(n);
            a.hour.push(hour);
            a.experiment.push(&count.experiment);
            a.arm.push(&count.arm);
            a.step.push(&count.step);
            a.what.push(count.what);
            a.n.push(count.n);
        }
        for e in &step.events {
            let x = &mut self.events;
            x.n.push(n);
            x.kind.push(e.kind.as_str());
            x.at.push(e.at);
            x.conversation_id.push(e.conversation_id);
            x.sender_id.push(e.sender_id);
            x.data.push(Json(&e.data));
        }
    }

    /// `COMMIT_TOGETHER` with this batch bound (`COMMIT_TOGETHER_TOLD` when its steps tell
    /// events out: without them, the statement has no part for events at all).
    fn query(self) -> PgQuery<'a> {
        let told = !self.events.n.is_empty();
        let query = sqlx::query(if told {
            &COMMIT_TOGETHER_TOLD
        } else {
            &COMMIT_TOGETHER
        });
        let query = self.steps.bind(query);
        let query = self.cancels.bind(query);
        let query = self.timers.bind(query);
        let query = self.outbound.bind(query);
        let query = self.costs.bind(query);
        let query = self.insights.bind(query);
        let query = self.arms.bind(query);
        if told {
            self.events.bind(query)
        } else {
            query
        }
    }
}

/// The statement of `commit_together`, its groups numbered in the order `Batch::query`
/// binds them.
static COMMIT_TOGETHER: LazyLock<String> = LazyLock::new(|| commit_together_sql(false));
static COMMIT_TOGETHER_TOLD: LazyLock<String> = LazyLock::new(|| commit_together_sql(true));

/// The statement of `commit_together`, with the insert of its steps' events out when
/// `told`.
fn commit_together_sql(told: bool) -> String {
    let mut p = Numbering::default();
    // The first array is the steps' conversations, which are locked first.
    let step_arrays = p.arrays::<StepRows>();
    let (steps, conversations) = (unnest(&step_arrays), &step_arrays[0]);
    let step_names = StepRows::names();
    let (cancels, cancel_names) = (p.unnest::<CancelRows>(), CancelRows::names());
    let (timers, timer_names) = (p.unnest::<TimerRows>(), TimerRows::names());
    let (outbound, outbound_names) = (p.unnest::<OutboundRows>(), OutboundRows::names());
    let (costs, cost_names) = (p.unnest::<CostRows>(), CostRows::names());
    let (insights, insight_names) = (p.unnest::<InsightRows>(), InsightRows::names());
    let (arms, arm_names) = (p.unnest::<ArmRows>(), ArmRows::names());
    let events = if told {
        let (events, event_names) = (p.unnest::<EventRows>(), EventRows::names());
        format!(
            ", events as (
             -- Events out of the committed steps, in the order given (ids follow it).
             insert into events_out (kind, at, conversation_id, sender_id, data)
             select x.kind, x.at, x.conversation_id, x.sender_id, x.data
             from {events} with ordinality as x({event_names}, k)
             join conversation c on c.n = x.n
             order by x.k
         )"
        )
    } else {
        String::new()
    };
    format!(
        "with step as (
             select * from {steps} with ordinality as s({step_names}, n)
         ), locked as (
             select id from conversations where id = any({conversations})
             order by id
             for no key update
         ), conversation as (
             update conversations v set
                 state = s.state,
                 lease_owner = case when s.release then null else v.lease_owner end,
                 lease_until = case when s.release then null else v.lease_until end,
                 work_since = case when s.release then
                     (select min(received_at) from conversation_events e
                      where e.conversation_id = v.id and e.processed_at is null
                        and e.id <> s.event_id)
                     else v.work_since end,
                 has_work = case when s.release then
                     exists (select 1 from conversation_events e
                             where e.conversation_id = v.id and e.processed_at is null
                               and e.id <> s.event_id)
                     -- changed meanwhile? (see `release_lease`)
                     or not (v.xmin = (select c.xmin from conversations c where c.id = v.id))
                     else v.has_work end
             from step s join locked l on l.id = s.conversation_id
             where v.id = s.conversation_id and v.lease_owner = s.owner and v.lease_until > s.now
               -- A scalar subquery, one primary-key probe per step. Written as `exists`,
               -- the planner may join it instead, and a generic plan made while the table
               -- was small then read the whole pending-events index at every batch
               -- (1,761 entries, 7 of a 13 ms statement at 2,000/s): slower as the
               -- backlog grew, so the backlog grew.
               and (select e.processed_at is null from conversation_events e
                    where e.id = s.event_id and e.conversation_id = v.id)
             -- `head`: the step's first reply will be its conversation's next to leave (no
             -- message still queued: this statement's snapshot does not see its own
             -- inserts, so any queued one is older) and its sender is not stopped; it is
             -- then leased to the step's owner until `hand_until`, as a claim would. The
             -- queued rows are locked to be read as they are now, not as the snapshot had
             -- them: a send recorded meanwhile as accepted (`outbox::record_accepted`) is
             -- no longer queued, or is waited for. Read from the snapshot, a send whose
             -- record committed during this statement still looked queued here, while the
             -- record's look for queued messages ran before this commit: neither side
             -- would lease the reply, and it waited for a poll.
             returning v.id, s.n, s.event_id, s.now, s.queued_at, s.owner, s.hand_until,
                 v.last_inbound_at, v.has_work,
                 s.hand_until is not null
                     and not exists (select 1 from outbound_messages o
                                     where o.conversation_id = v.id and o.status = 'queued'
                                     for share)
                     and not exists (select 1 from sender_stops st
                                     where st.sender_id = v.sender_id) as head
         ), event as (
             update conversation_events e set processed_at = c.now
             from conversation c
             where e.id = c.event_id and e.conversation_id = c.id
         ), cancelled as (
             delete from timers
             where id in (select t.id
                          from {cancels} as x({cancel_names})
                          join conversation c on c.n = x.n
                          join timers t on t.conversation_id = c.id and t.purpose = x.purpose
                          for update of t skip locked)
         ), new_timers as (
             insert into timers (conversation_id, purpose, due_at, payload)
             select c.id, x.purpose, x.due_at, x.payload
             from {timers} as x({timer_names})
             join conversation c on c.n = x.n
         ), outbound as (
             insert into outbound_messages
                 (sender_id, conversation_id, payload, fallback, origin, status,
                  next_attempt_at, created_at, updated_at, flow, step, lease_owner, lease_until)
             select m.sender_id, m.conversation_id, m.payload, m.fallback, m.origin,
                    'queued', c.queued_at, c.queued_at, c.queued_at, m.flow, m.step,
                    case when m.first and c.head then c.owner end,
                    case when m.first and c.head then c.hand_until end
             from {outbound} with ordinality as m({outbound_names}, k)
             join conversation c on c.n = m.n
             order by m.k
             returning id, lease_owner is not null as leased
         ), numbered as (
             select id, row_number() over (order by id) as r from outbound
         ), costs as (
             -- The committed steps' messages in input order are the ids in order: the
             -- r-th of them is the r-th id.
             insert into message_costs (outbound_id, sender_id, market, currency,
                 predicted_category, predicted_type, predicted_micros, rate_marketing,
                 rate_utility, rate_authentication, rate_service, created_at, updated_at)
             select nb.id, x.sender_id, x.market, x.currency, x.category, x.kind, x.price,
                    x.rm, x.ru, x.ra, x.rs, x.now, x.now
             from (select p.*, c.queued_at as now, row_number() over (order by p.k) as r
                   from {costs} with ordinality as p({cost_names}, k)
                   join conversation c on c.n = p.n) x
             join numbered nb on nb.r = x.r
             where x.market is not null
         ), insights as (
             -- Summed per counter (two steps of a batch may add to one), in lock order.
             insert into flow_insights (flow, step, hour, what, n)
             select x.flow, x.step, x.hour, x.what, cast(sum(x.n) as bigint)
             from {insights} as x({insight_names})
             join conversation c on c.n = x.n_step
             group by x.flow, x.step, x.hour, x.what
             order by x.flow, x.step, x.hour, x.what
             on conflict (flow, step, hour, what) do update set n = flow_insights.n + excluded.n
         ), arm_insights as (
             -- The experiment arms' counters, the same way (issue 58).
             insert into experiment_insights (experiment, arm, step, hour, what, n)
             select x.experiment, x.arm, x.step, x.hour, x.what, cast(sum(x.n) as bigint)
             from {arms} as x({arm_names})
             join conversation c on c.n = x.n_step
             group by x.experiment, x.arm, x.step, x.hour, x.what
             order by x.experiment, x.arm, x.step, x.hour, x.what
             on conflict (experiment, arm, step, hour, what)
             do update set n = experiment_insights.n + excluded.n
         ){events}
         select coalesce((select array_agg(n order by n) from conversation), '{{}}') as committed,
                coalesce((select array_agg(has_work order by n) from conversation), '{{}}') as more,
                coalesce((select array_agg(last_inbound_at order by n) from conversation), '{{}}')
                    as last_inbound,
                coalesce((select array_agg(id order by id) from outbound), '{{}}') as ids,
                coalesce((select array_agg(id) from outbound where leased), '{{}}') as handed"
    )
}

/// The steps at `which` in ONE statement, its own transaction, so a conversation's row is
/// locked only while the statement runs; returns (index, what was committed) of the steps
/// it committed: the new outbound ids, the first reply when it was leased to the step's
/// owner (a job with `hand_until`, the reply next in its conversation's line), and whether
/// a released conversation still has work. Every part of a step is guarded by its conversation's update, which happens
/// only while the lease is held and the event is unprocessed, so a refused step writes
/// nothing at all. Conversations are locked in id order before any is changed, the order
/// timer firing and ingest use too, so a batch never deadlocks with them or another batch.
///
/// Cancelled timers are deleted with `skip locked`: a timer locked by someone else is
/// being fired right now (only firing and the conversation's own steps touch timers, and
/// the lease allows one step at a time), it becomes an event the engine finds stale. Not
/// waiting for it keeps the lock order of a firing (timers, then conversations) from
/// deadlocking with this statement (conversations, then timers).
///
/// A handed reply's "next in line" is decided as the outbox's claim decides it: the
/// messages queued in the statement's snapshot, each re-read under a lock (see `head`). A
/// message of the conversation queued by someone else in the same instant (an API send, a
/// broadcast) can be missed by both, and may then leave first.
async fn commit_together(
    pool: &PgPool,
    jobs: &[StepJob],
    which: &[usize],
) -> StoreResult<Vec<(usize, Committed)>> {
    let picked: Vec<&StepCommit> = which.iter().map(|&i| &jobs[i].step).collect();
    let mut batch = Batch::default();
    for (k, &i) in which.iter().enumerate() {
        batch.push(k as i64 + 1, &jobs[i]);
    }
    let row = batch.query().fetch_one(pool).await?;
    // One entry per committed step, in step order (`n`).
    let committed: Vec<i64> = row.try_get("committed")?;
    let more: Vec<bool> = row.try_get("more")?;
    let last_inbound: Vec<Option<DateTime<Utc>>> = row.try_get("last_inbound")?;
    let handed: std::collections::HashSet<i64> =
        row.try_get::<Vec<i64>, _>("handed")?.into_iter().collect();
    let mut per_step = committed
        .into_iter()
        .zip(more.into_iter().zip(last_inbound))
        .peekable();
    // Identity values follow the insert's `order by`: sorted ids are the committed steps'
    // messages in input order.
    let mut ids = row.try_get::<Vec<i64>, _>("ids")?.into_iter();
    let mut done: Vec<(usize, Committed)> = Vec::with_capacity(picked.len());
    for (k, step) in picked.iter().enumerate() {
        let n = k as i64 + 1;
        let Some((_, (has_work, last_inbound_at))) = per_step.next_if(|(c, _)| *c == n) else {
            continue;
        };
        let mine: Vec<i64> = ids.by_ref().take(step.outbound.len()).collect();
        if mine.len() != step.outbound.len() {
            return Err(StoreError::Corrupt(format!(
                "a batch of steps stored fewer replies than it was given (step of conversation {})",
                step.conversation_id
            )));
        }
        // The leased reply as the outbox would have read it from its row.
        let handed = match (mine.first(), step.outbound.first()) {
            (Some(&id), Some(first)) if handed.contains(&id) => Some(OutboxItem {
                id,
                sender_id: first.sender_id,
                conversation_id: step.conversation_id,
                message: first.message.clone(),
                fallback: first.fallback.clone(),
                attempts: 0,
                created_at: step.queued_at,
                last_inbound_at,
            }),
            _ => None,
        };
        done.push((
            which[k],
            Committed {
                ids: mine,
                handed,
                more_work: step.release && has_work,
            },
        ));
    }
    Ok(done)
}

/// The stored `purpose` of each kind of timer a step cancels.
pub(in crate::store::postgres) fn purposes(kinds: &[TimerKind]) -> Vec<String> {
    kinds.iter().map(TimerKind::purpose).collect()
}
