//! What both backends run unchanged: the SQL text of the lease owners and of the API's
//! listings that use no JSON operator. Their rows decode into `rows`'s structs (or the
//! store's own types, which derive `FromRow`) from either backend; the reads that run this
//! SQL are written once in `shared_reads`.

/// The tables whose rows carry leases, in the order statements lock rows.
pub(crate) const LEASED_TABLES: [&str; 6] = [
    "conversations",
    "outbound_messages",
    "schedule_fires",
    "media_downloads",
    "broadcasts",
    "event_deliveries",
];

/// How a lease of a dead owner on `table` is given back (`expired`: the earliest time in
/// the backend's terms): cleared, except a send's, which is only made to have run out, so
/// the next claim treats it as in doubt — the dead process may have handed it to the
/// provider (`Outbox::claim_outbound`).
pub(crate) fn give_back(table: &str, expired: &str) -> String {
    if table == "outbound_messages" {
        format!("lease_owner = '{IN_DOUBT_OWNER}', lease_until = {expired}")
    } else {
        "lease_owner = null, lease_until = null".to_string()
    }
}

/// The lease owner of a send given back by a dead process until a claim puts it back to
/// wait (`give_back`); no process's name, and not listed among the owners.
pub(crate) const IN_DOUBT_OWNER: &str = "in-doubt";

/// Every distinct lease owner (`Process::lease_owners`).
pub(super) fn lease_owners_sql() -> String {
    LEASED_TABLES
        .map(|t| {
            format!(
                "select lease_owner from {t}
                 where lease_owner is not null and lease_owner <> '{IN_DOUBT_OWNER}'"
            )
        })
        .join(" union ")
}

/// The columns of a `conversations` row (`rows::ConversationCols`).
pub(super) const CONVERSATION_COLUMNS: &str =
    "id, sender_id, contact_id, last_inbound_at, state, created_at";

/// `Inbox::find_conversation`: `$1` the sender, `$2` the contact's key (a `bsuid:` key
/// also finds the contact stored under its phone that carries that BSUID).
pub(super) const FIND_CONVERSATION: &str =
    "select v.id, v.sender_id, v.contact_id, v.last_inbound_at, v.state, v.created_at
     from conversations v join contacts c on c.id = v.contact_id
     where v.sender_id = $1
       and (c.key = $2 or c.bsuid = case when $2 like 'bsuid:%' then substr($2, 7) end)";

/// `Inbox::contact`: `$1` the id (`rows::ContactCols`).
pub(super) const CONTACT: &str =
    "select id, key, name, attributes, tags, created_at, bsuid, username
     from contacts where id = $1";

/// The columns of an `outbound_messages` row (`rows::OutboundCols`).
pub(super) const OUTBOUND_COLUMNS: &str = "id, sender_id, conversation_id, payload, fallback, \
     origin, status, provider_message_id, error_code, error_title, window_closed, attempts, \
     created_at, updated_at";

/// `Reads::conversations_page`: `$1` the sender (null: every sender), `$2` the id the page
/// ends below, `$3` the page size. The conversation's columns under their own names, the
/// contact's as `contact_id, key, name, attributes, tags, contact_created_at`.
pub(super) const CONVERSATIONS_PAGE: &str =
    "select v.id, v.sender_id, v.contact_id, v.last_inbound_at, v.state, v.created_at,
            k.key, k.name, k.attributes, k.tags, k.created_at as contact_created_at,
            k.bsuid, k.username
     from conversations v join contacts k on k.id = v.contact_id
     where (cast($1 as bigint) is null or v.sender_id = $1) and v.id < $2
       and k.merged_into is null
     order by v.id desc limit $3";

/// `Reads::handoff_conversations`: `$1` the most rows; `in_handoff` is the backend's test
/// of `v.state` for a handoff (a JSON operator). The columns of `CONVERSATIONS_PAGE`.
pub(super) fn handoff_conversations_sql(in_handoff: &str) -> String {
    format!(
        "select v.id, v.sender_id, v.contact_id, v.last_inbound_at, v.state, v.created_at,
                k.key, k.name, k.attributes, k.tags, k.created_at as contact_created_at,
                k.bsuid, k.username
         from conversations v join contacts k on k.id = v.contact_id
         where {in_handoff} and k.merged_into is null
         order by v.id limit $1"
    )
}

/// `Reads::outbound_authors`: `$1` the conversation, `$2` the lowest id, `$3` the step's
/// prefix, `$4` the most rows.
pub(super) const OUTBOUND_AUTHORS: &str = "select id, step from outbound_messages
     where conversation_id = $1 and id >= $2 and substr(step, 1, length($3)) = $3
     order by id limit $4";

/// `Reads::conversation_inbound`: `$1` the conversation, `$2` the id the page ends below,
/// `$3` the page size; columns `id, payload, received_at`.
pub(super) const CONVERSATION_INBOUND: &str =
    "select id, payload, received_at from conversation_events
     where conversation_id = $1 and kind = 'message' and id < $2
     order by id desc limit $3";

/// `Senders::stopped_senders`: every stop, by sender.
pub(super) const STOPPED_SENDERS: &str =
    "select sender_id, code, reason, stopped_at from sender_stops order by sender_id";

/// `Account::live_templates`: every template Meta told Parley about.
pub(super) const LIVE_TEMPLATES: &str =
    "select name, language, status, reason, category, impending_category, impending_on, updated_at
     from template_states order by name, language";

/// `Account::live_template`: `$1` the name, `$2` the language; a row recorded without a
/// language applies to every language, one with the language wins.
pub(super) const LIVE_TEMPLATE: &str =
    "select name, language, status, reason, category, impending_category, impending_on, updated_at
     from template_states where name = $1 and (language = $2 or language = '')
     order by language desc limit 1";

/// The columns of a `media_downloads` row (`rows::MediaCols`; SQLite's writer thread reads
/// them in this order too).
pub(super) const MEDIA_COLUMNS: &str =
    "id, sender_id, conversation_id, event_id, provider_message_id, kind,
    media_id, url, declared_mime_type, declared_sha256, status, attempts, error, sha256,
    content_type, size_bytes, created_at, stored_at";

/// `Exchanges::model_exchange`: `$1` the event, `$2` the call's number.
pub(super) const MODEL_EXCHANGE: &str =
    "select conversation_id, event_id, seq, kind, flow, step, model, request, answer, error,
     input_tokens, output_tokens, cost_micros, latency_ms, created_at
     from model_exchanges where event_id = $1 and seq = $2";

/// `Exchanges::conversation_exchanges`: `$1` the conversation, `$2` the limit.
pub(super) const CONVERSATION_EXCHANGES: &str =
    "select conversation_id, event_id, seq, kind, flow, step, model, request, answer, error,
     input_tokens, output_tokens, cost_micros, latency_ms, created_at
     from model_exchanges where conversation_id = $1 order by id desc limit $2";

/// `Schedules::audience_page`: `$1` the sender, `$2` the conversation id the page starts
/// after, `$3` the page size; a contact merged into another is reached through the
/// survivor only.
pub(super) const AUDIENCE_PAGE: &str =
    "select c.id as conversation_id, c.last_inbound_at, c.state,
            k.id as contact_id, k.key, k.name, k.attributes, k.tags, k.created_at as contact_created_at,
            k.bsuid, k.username
     from conversations c join contacts k on k.id = c.contact_id
     where c.sender_id = $1 and c.id > $2 and k.merged_into is null
     order by c.id limit $3";

/// `Account::marketing_state`: `$1` the conversation.
pub(super) const MARKETING_STATE: &str = "select k.marketing_stopped_at, k.marketing_limited_until
     from conversations v join contacts k on k.id = v.contact_id where v.id = $1";

/// `Insights::flow_insights`: `$1`..`$2` the hours, `$3` the flow (null: every flow), `$4`
/// the most rows; columns `flow, step, what, n`.
pub(super) const FLOW_INSIGHTS: &str =
    "select flow, step, what, cast(sum(n) as bigint) as n from flow_insights
     where hour >= $1 and hour < $2 and (cast($3 as text) is null or flow = $3)
     group by flow, step, what
     order by flow, step, what
     limit $4";

/// `Insights::step_deliveries`: `$1` since, `$2` until (the message's `created_at`), `$3`
/// the flow or null, `$4` the most rows.
pub(super) const STEP_DELIVERIES: &str =
    "select m.flow as flow, coalesce(m.step, '') as step, count(*) as messages,
            cast(coalesce(sum(case when m.status in ('accepted', 'sent', 'delivered', 'read', 'failed')
                                   then 1 else 0 end), 0) as bigint) as sent,
            cast(coalesce(sum(case when m.status in ('delivered', 'read') then 1 else 0 end), 0)
                 as bigint) as delivered,
            cast(coalesce(sum(case when m.status = 'read' then 1 else 0 end), 0) as bigint) as read_count,
            cast(coalesce(sum(case when m.status = 'failed' then 1 else 0 end), 0) as bigint) as failed,
            cast(coalesce(sum(case when m.status in ('failed', 'skipped') then 0
                                   else c.predicted_micros end), 0) as bigint) as predicted_micros,
            cast(coalesce(sum(c.actual_micros), 0) as bigint) as actual_micros
     from outbound_messages m
     left join message_costs c on c.outbound_id = m.id
     where m.flow is not null and m.created_at >= $1 and m.created_at < $2
       and (cast($3 as text) is null or m.flow = $3)
     group by m.flow, coalesce(m.step, '')
     order by m.flow, coalesce(m.step, '')
     limit $4";

/// `Costs::costs` for one grouping; `day` is the backend's expression of `c.created_at`'s
/// UTC day as `YYYY-MM-DD`. `$1` since, `$2` until, `$3` the number of groups. Sums are
/// cast to bigint (PostgreSQL's `sum` of bigint is numeric).
pub(super) fn costs_sql(by: super::CostGrouping, day: &str) -> String {
    use super::CostGrouping as G;
    let day_col = format!("{day} as day");
    let (cols, keys): (&str, &str) = match by {
        G::Flow => ("m.flow as flow", "m.flow"),
        G::Step => ("m.flow as flow, m.step as step", "m.flow, m.step"),
        G::Sender => ("c.sender_id as sender_id", "c.sender_id"),
        G::Day => (day_col.as_str(), day),
        G::Category => ("c.predicted_category as category", "c.predicted_category"),
    };
    costs_query(cols, keys, "")
}

/// `Costs::costs_by_broadcast`: through `broadcast_recipients`.
pub(super) fn costs_by_broadcast_sql() -> String {
    costs_query(
        "b.broadcast_id as broadcast_id",
        "b.broadcast_id",
        "join broadcast_recipients b on b.outbound_id = c.outbound_id",
    )
}

fn costs_query(cols: &str, keys: &str, join: &str) -> String {
    format!(
        "select {cols}, count(*) as messages,
                cast(coalesce(sum(c.predicted_micros), 0) as bigint) as predicted_micros,
                count(c.actual_category) as priced,
                cast(coalesce(sum(case when c.actual_billable then 1 else 0 end), 0) as bigint) as billable,
                cast(coalesce(sum(c.actual_micros), 0) as bigint) as actual_micros
         from message_costs c
         join outbound_messages m on m.id = c.outbound_id
         {join}
         where c.created_at >= $1 and c.created_at < $2
           and m.status not in ('failed', 'skipped')
         group by {keys} order by {keys} limit $3"
    )
}

/// `Costs::predicted_spend`: `$1` the sender, `$2` since.
pub(super) const PREDICTED_SPEND: &str =
    "select cast(coalesce(sum(c.predicted_micros), 0) as bigint)
     from message_costs c join outbound_messages m on m.id = c.outbound_id
     where c.sender_id = $1 and c.created_at >= $2 and m.status not in ('failed', 'skipped')";

/// `Costs::cost_entry`: `$1` the outbound id.
pub(super) const COST_ENTRY: &str =
    "select outbound_id, sender_id, market, currency, predicted_category, predicted_type,
            predicted_micros, actual_category, actual_type, actual_billable, pricing_model,
            actual_micros
     from message_costs where outbound_id = $1";

/// Whether broadcast `$1` has messages still waiting in the outbox (a `done` broadcast
/// can then still be cancelled: `BroadcastAction::apply`).
pub(super) const BROADCAST_WAITING: &str = "select exists (select 1 from outbound_messages
                    where broadcast_recipient in
                          (select id from broadcast_recipients where broadcast_id = $1)
                      and status = 'queued')
                 or exists (select 1 from deferred_sends
                    where broadcast_recipient in
                          (select id from broadcast_recipients where broadcast_id = $1))";

/// A broadcast's recipients counted by state, skip reason and their latest send (a copy
/// of a send WhatsApp held back is a newer outbound message of the same recipient).
pub(super) const BROADCAST_COUNTS: &str = "
    select r.state, r.reason, o.status, o.error_code,
           exists (select 1 from deferred_sends d where d.broadcast_recipient = r.id) as deferred,
           case when o.status = 'skipped' and o.error_title like 'opted_out:%'
                then 'opted_out' end as skip_reason,
           count(*) as n
    from broadcast_recipients r
    left join outbound_messages o on o.id = (select max(x.id) from outbound_messages x
                                             where x.broadcast_recipient = r.id)
    where r.broadcast_id = $1
    group by r.state, r.reason, o.status, o.error_code, deferred, skip_reason
    order by count(*) desc";

/// A broadcast's recipients by id after `$2`, at most `$3`.
pub(super) const BROADCAST_RECIPIENTS: &str = "
    select id, conversation_id, contact_id, state, reason, outbound_id
    from broadcast_recipients
    where broadcast_id = $1 and id > $2
    order by id limit $3";

/// `Outbox::broadcast_send_stop`: `$1` the outbound message; whether its broadcast was
/// cancelled and whether its contact opted out, `opted_out` the backend's expression of
/// `c.attributes`' `opted_out` being true.
pub(super) fn broadcast_send_stop_sql(opted_out: &str) -> String {
    format!(
        "select b.state = 'cancelled', coalesce({opted_out}, false)
         from outbound_messages o
         join broadcast_recipients r on r.id = o.broadcast_recipient
         join broadcasts b on b.id = r.broadcast_id
         join conversations v on v.id = o.conversation_id
         join contacts c on c.id = v.contact_id
         where o.id = $1"
    )
}

/// A sender's broadcast candidates: contacts by id after `$2`, at most `$3`, each with its
/// conversation with sender `$1` (if any) and its latest inbound message with any sender;
/// a contact merged into another is reached through the survivor only
/// (`rows::CandidateCols`).
pub(super) const BROADCAST_CANDIDATES: &str =
    "select k.id as contact_id, k.key, k.name, k.attributes, k.tags,
            k.created_at as contact_created_at, k.bsuid, k.username,
            c.id as conversation_id, c.state,
            (select max(x.last_inbound_at) from conversations x
             where x.contact_id = k.id) as last_inbound_at
     from contacts k
     left join conversations c on c.contact_id = k.id and c.sender_id = $1
     where k.id > $2 and k.merged_into is null
     order by k.id limit $3";

/// Whether outbound message `o` was priced as anything but marketing when it was queued
/// (utility, authentication, service): WhatsApp's marketing limit (131049) does not hold
/// such a message back for another day (README, error codes), it just fails. Unpriced
/// sends (no ledger row) count as marketing. Written once for both stores' `defer_in`.
pub(crate) const NOT_MARKETING: &str = "coalesce((select c.predicted_category <> 'marketing'
         from message_costs c where c.outbound_id = o.id), false)";
