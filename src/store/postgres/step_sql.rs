//! The statement that commits a batch of steps (`inbox::commit_together`), assembled from
//! the parts its batch needs.
//!
//! PostgreSQL builds a prepared statement's whole plan tree at every run (executor
//! start-up), whether or not a part has rows to work on: with every part always present,
//! the statement's 60-odd nodes were built for each batch, though most batches cancel and
//! set no timers. Each shape (which of the optional parts a batch has) is its own statement
//! text, so its own prepared statement on each connection; the parameters are numbered in
//! the order the text names them, and `Param` says which array goes where.

use std::sync::OnceLock;

/// Which optional parts a batch of steps needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Shape {
    /// A step cancels timers.
    pub cancels: bool,
    /// A step sets timers.
    pub timers: bool,
    /// A step queues messages.
    pub outbound: bool,
    /// A queued message has a predicted cost (only with `outbound`).
    pub costs: bool,
    /// A step counts flow insights.
    pub insights: bool,
}

impl Shape {
    fn index(self) -> usize {
        usize::from(self.cancels)
            | usize::from(self.timers) << 1
            | usize::from(self.outbound) << 2
            | usize::from(self.costs && self.outbound) << 3
            | usize::from(self.insights) << 4
    }
}

/// One array of the batch, bound as the parameter the statement's text numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Param {
    Conversations,
    Owners,
    Events,
    States,
    Nows,
    Releases,
    Hands,
    CancelN,
    CancelPurpose,
    TimerN,
    TimerPurpose,
    TimerDue,
    TimerPayload,
    OutN,
    OutSender,
    OutConversation,
    OutPayload,
    OutFallback,
    OutOrigin,
    OutFlow,
    OutStep,
    OutFirst,
    CostMarket,
    CostCurrency,
    CostCategory,
    CostKind,
    CostPrice,
    CostRateMarketing,
    CostRateUtility,
    CostRateAuthentication,
    CostRateService,
    CountN,
    CountHour,
    CountFlow,
    CountStep,
    CountWhat,
    CountValue,
}

/// The names the parts below give the parameters (`@name`).
const NAMES: [(&str, Param); 37] = [
    ("conversations", Param::Conversations),
    ("owners", Param::Owners),
    ("events", Param::Events),
    ("states", Param::States),
    ("nows", Param::Nows),
    ("releases", Param::Releases),
    ("hands", Param::Hands),
    ("cancel_n", Param::CancelN),
    ("cancel_purpose", Param::CancelPurpose),
    ("timer_n", Param::TimerN),
    ("timer_purpose", Param::TimerPurpose),
    ("timer_due", Param::TimerDue),
    ("timer_payload", Param::TimerPayload),
    ("out_n", Param::OutN),
    ("out_sender", Param::OutSender),
    ("out_conversation", Param::OutConversation),
    ("out_payload", Param::OutPayload),
    ("out_fallback", Param::OutFallback),
    ("out_origin", Param::OutOrigin),
    ("out_flow", Param::OutFlow),
    ("out_step", Param::OutStep),
    ("out_first", Param::OutFirst),
    ("cost_market", Param::CostMarket),
    ("cost_currency", Param::CostCurrency),
    ("cost_category", Param::CostCategory),
    ("cost_kind", Param::CostKind),
    ("cost_price", Param::CostPrice),
    ("cost_rm", Param::CostRateMarketing),
    ("cost_ru", Param::CostRateUtility),
    ("cost_ra", Param::CostRateAuthentication),
    ("cost_rs", Param::CostRateService),
    ("count_n", Param::CountN),
    ("count_hour", Param::CountHour),
    ("count_flow", Param::CountFlow),
    ("count_step", Param::CountStep),
    ("count_what", Param::CountWhat),
    ("count_value", Param::CountValue),
];

/// A shape's statement: its text with numbered parameters, and what each number binds.
#[derive(Debug)]
pub(super) struct Statement {
    pub sql: String,
    pub params: Vec<Param>,
}

/// The statement for `shape`, assembled at its first use.
pub(super) fn statement(shape: Shape) -> &'static Statement {
    static BUILT: [OnceLock<Statement>; 32] = [const { OnceLock::new() }; 32];
    BUILT[shape.index()].get_or_init(|| assemble(shape))
}

fn assemble(shape: Shape) -> Statement {
    let mut text = String::from(HEAD);
    if shape.cancels {
        text += CANCELLED;
    }
    if shape.timers {
        text += NEW_TIMERS;
    }
    if shape.outbound {
        text += OUTBOUND;
        if shape.costs {
            text += COSTS;
        }
    }
    if shape.insights {
        text += INSIGHTS;
    }
    text += if shape.outbound {
        RESULT
    } else {
        RESULT_NO_OUTBOUND
    };
    number(&text)
}

/// `text` with each `@name` replaced by `$k`, `k` numbering the names in the order they
/// first appear.
fn number(text: &str) -> Statement {
    let mut sql = String::with_capacity(text.len());
    let mut params: Vec<Param> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        sql.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..end];
        let param = NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
            .unwrap_or_else(|| panic!("the step statement names an unknown parameter @{name}"));
        let k = match params.iter().position(|p| *p == param) {
            Some(i) => i + 1,
            None => {
                params.push(param);
                params.len()
            }
        };
        sql.push('$');
        sql.push_str(&k.to_string());
        rest = &after[end..];
    }
    sql.push_str(rest);
    Statement { sql, params }
}

/// The steps, their conversations (locked, checked, updated, released) and their events.
const HEAD: &str = "with step as (
             select * from unnest(@conversations::bigint[], @owners::text[], @events::bigint[], @states::jsonb[],
                                  @nows::timestamptz[], @releases::bool[], @hands::timestamptz[])
                  with ordinality as s(conversation_id, owner, event_id, state, now, release,
                                       hand_until, n)
         ), locked as (
             select id from conversations where id = any(@conversations::bigint[])
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
             returning v.id, s.n, s.event_id, s.now, s.owner, s.hand_until,
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
         ";

/// Timers the steps cancel.
const CANCELLED: &str = "), cancelled as (
             delete from timers
             where id in (select t.id
                          from unnest(@cancel_n::bigint[], @cancel_purpose::text[]) as x(n, purpose)
                          join conversation c on c.n = x.n
                          join timers t on t.conversation_id = c.id and t.purpose = x.purpose
                          for update of t skip locked)
         ";

/// Timers the steps set.
const NEW_TIMERS: &str = "), new_timers as (
             insert into timers (conversation_id, purpose, due_at, payload)
             select c.id, x.purpose, x.due_at, x.payload
             from unnest(@timer_n::bigint[], @timer_purpose::text[], @timer_due::timestamptz[], @timer_payload::jsonb[])
                  as x(n, purpose, due_at, payload)
             join conversation c on c.n = x.n
         ";

/// Messages the steps queue, the first leased to the step's owner when it is next in line.
const OUTBOUND: &str = "), outbound as (
             insert into outbound_messages
                 (sender_id, conversation_id, payload, fallback, origin, status,
                  next_attempt_at, created_at, updated_at, flow, step, lease_owner, lease_until)
             select m.sender_id, m.conversation_id, m.payload, m.fallback, m.origin,
                    'queued', c.now, c.now, c.now, m.flow, m.step,
                    case when m.first and c.head then c.owner end,
                    case when m.first and c.head then c.hand_until end
             from unnest(@out_n::bigint[], @out_sender::bigint[], @out_conversation::bigint[], @out_payload::jsonb[],
                         @out_fallback::jsonb[], @out_origin::text[], @out_flow::text[], @out_step::text[], @out_first::bool[])
                  with ordinality as m(n, sender_id, conversation_id, payload, fallback, origin,
                                       flow, step, first, k)
             join conversation c on c.n = m.n
             order by m.k
             returning id, lease_owner is not null as leased
         ), numbered as (
             select id, row_number() over (order by id) as r from outbound
         ";

/// The queued messages' predicted costs (needs `OUTBOUND`).
const COSTS: &str = "), costs as (
             -- The committed steps' messages in input order are the ids in order: the
             -- r-th of them is the r-th id.
             insert into message_costs (outbound_id, sender_id, market, currency,
                 predicted_category, predicted_type, predicted_micros, rate_marketing,
                 rate_utility, rate_authentication, rate_service, created_at, updated_at)
             select nb.id, x.sender_id, x.market, x.currency, x.category, x.kind, x.price,
                    x.rm, x.ru, x.ra, x.rs, x.now, x.now
             from (select m.sender_id, c.now, p.*, row_number() over (order by m.k) as r
                   from unnest(@out_n::bigint[], @out_sender::bigint[]) with ordinality as m(n, sender_id, k)
                   join conversation c on c.n = m.n
                   join unnest(@cost_market::text[], @cost_currency::text[], @cost_category::text[], @cost_kind::text[],
                               @cost_price::bigint[], @cost_rm::bigint[], @cost_ru::bigint[], @cost_ra::bigint[],
                               @cost_rs::bigint[])
                        with ordinality as p(market, currency, category, kind, price,
                                             rm, ru, ra, rs, k)
                        on p.k = m.k) x
             join numbered nb on nb.r = x.r
             where x.market is not null
         ";

/// The steps' flow-insight counts.
const INSIGHTS: &str = "), insights as (
             -- Summed per counter (two steps of a batch may add to one), in lock order.
             insert into flow_insights (flow, step, hour, what, n)
             select x.flow, x.step, x.hour, x.what, cast(sum(x.n) as bigint)
             from unnest(@count_n::bigint[], @count_hour::bigint[], @count_flow::text[], @count_step::text[], @count_what::text[],
                         @count_value::bigint[]) as x(n_step, hour, flow, step, what, n)
             join conversation c on c.n = x.n_step
             group by x.flow, x.step, x.hour, x.what
             order by x.flow, x.step, x.hour, x.what
             on conflict (flow, step, hour, what) do update set n = flow_insights.n + excluded.n
         ";

/// What was committed, read back.
const RESULT: &str = ")
         select coalesce((select array_agg(n order by n) from conversation), '{}') as committed,
                coalesce((select array_agg(has_work order by n) from conversation), '{}') as more,
                coalesce((select array_agg(last_inbound_at order by n) from conversation), '{}')
                    as last_inbound,
                coalesce((select array_agg(id order by id) from outbound), '{}') as ids,
                coalesce((select array_agg(id) from outbound where leased), '{}') as handed";

/// `RESULT` for a batch that queues nothing.
const RESULT_NO_OUTBOUND: &str = ")
         select coalesce((select array_agg(n order by n) from conversation), '{}') as committed,
                coalesce((select array_agg(has_work order by n) from conversation), '{}') as more,
                coalesce((select array_agg(last_inbound_at order by n) from conversation), '{}')
                    as last_inbound,
                '{}'::bigint[] as ids,
                '{}'::bigint[] as handed";

#[cfg(test)]
mod tests {
    use super::*;

    fn every_shape() -> impl Iterator<Item = Shape> {
        (0..32u8).map(|bits| Shape {
            cancels: bits & 1 != 0,
            timers: bits & 2 != 0,
            outbound: bits & 4 != 0,
            costs: bits & 8 != 0,
            insights: bits & 16 != 0,
        })
    }

    #[test]
    fn every_shape_numbers_each_of_its_parameters_once_and_in_order() {
        for shape in every_shape() {
            let s = statement(shape);
            assert!(!s.sql.contains('@'), "{shape:?}: a name left unnumbered");
            for (i, p) in s.params.iter().enumerate() {
                assert_eq!(
                    s.params.iter().position(|q| q == p),
                    Some(i),
                    "{shape:?}: {p:?} bound twice"
                );
                assert!(
                    s.sql.contains(&format!("${}::", i + 1)),
                    "{shape:?}: ${} unused",
                    i + 1
                );
            }
            assert!(!s.sql.contains(&format!("${}::", s.params.len() + 1)));
        }
    }

    #[test]
    fn a_batch_has_only_the_parts_it_needs() {
        let all = statement(Shape {
            cancels: true,
            timers: true,
            outbound: true,
            costs: true,
            insights: true,
        });
        assert_eq!(
            all.params.len(),
            NAMES.len(),
            "the full statement binds every array"
        );
        for part in [
            "cancelled as",
            "new_timers as",
            "outbound as",
            "costs as",
            "insights as",
        ] {
            assert!(all.sql.contains(part), "{part}");
        }

        let plain = statement(Shape::default());
        for part in [
            "cancelled as",
            "new_timers as",
            "outbound as",
            "costs as",
            "insights as",
        ] {
            assert!(!plain.sql.contains(part), "{part}");
        }
        assert_eq!(
            plain.params,
            [
                Param::Conversations,
                Param::Owners,
                Param::Events,
                Param::States,
                Param::Nows,
                Param::Releases,
                Param::Hands
            ]
        );

        // Costs go only with the messages they price.
        let costs_alone = statement(Shape {
            costs: true,
            ..Shape::default()
        });
        assert_eq!(costs_alone.sql, plain.sql);
        let replies = statement(Shape {
            outbound: true,
            insights: true,
            ..Shape::default()
        });
        assert!(replies.sql.contains("outbound as") && replies.sql.contains("insights as"));
        assert!(!replies.sql.contains("costs as") && !replies.sql.contains("timers as"));
    }
}
