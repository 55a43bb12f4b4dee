//! What both backends run unchanged: the SQL text of the lease owners and of the API's
//! listings that use no JSON operator, and the decoder of a row both backends return with
//! the same column types. Each backend binds its own values (SQLite: INTEGER microseconds;
//! PostgreSQL: `timestamptz`) and decodes the rest with its own `rows`.

use super::{KindCount, StoreResult};
use sqlx::{ColumnIndex, Decode, Row, Type};

/// The tables whose rows carry leases, in the order statements lock rows.
pub(crate) const LEASED_TABLES: [&str; 5] = [
    "conversations",
    "outbound_messages",
    "schedule_fires",
    "media_downloads",
    "broadcasts",
];

/// Every distinct lease owner (`Process::lease_owners`).
pub(super) fn lease_owners_sql() -> String {
    LEASED_TABLES
        .map(|t| format!("select lease_owner from {t} where lease_owner is not null"))
        .join(" union ")
}

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

/// `Reads::conversation_inbound`: `$1` the conversation, `$2` the id the page ends below,
/// `$3` the page size; columns `id, payload, received_at`.
pub(super) const CONVERSATION_INBOUND: &str =
    "select id, payload, received_at from conversation_events
     where conversation_id = $1 and kind = 'message' and id < $2
     order by id desc limit $3";

/// `Senders::stopped_senders`: every stop, by sender; the backend decodes `stopped_at`.
pub(super) const STOPPED_SENDERS: &str =
    "select sender_id, code, reason, stopped_at from sender_stops order by sender_id";

/// A row `kind, n` of `Reads::outbound_kind_counts` (a missing kind counts as empty).
pub(super) fn kind_count<'r, R>(row: &'r R) -> StoreResult<KindCount>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(KindCount {
        kind: row
            .try_get::<Option<String>, _>("kind")?
            .unwrap_or_default(),
        count: row.try_get("n")?,
    })
}

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

/// The columns of a `media_downloads` row, in the order both backends' `record` reads them.
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

/// `Account::marketing_state`: `$1` the conversation.
pub(super) const MARKETING_STATE: &str = "select k.marketing_stopped_at, k.marketing_limited_until
     from conversations v join contacts k on k.id = v.contact_id where v.id = $1";

/// A broadcast's recipients counted by state, skip reason and their latest send (a copy
/// of a send WhatsApp held back is a newer outbound message of the same recipient).
pub(super) const BROADCAST_COUNTS: &str = "
    select r.state, r.reason, o.status, o.error_code,
           exists (select 1 from deferred_sends d where d.broadcast_recipient = r.id) as deferred,
           count(*) as n
    from broadcast_recipients r
    left join outbound_messages o on o.id = (select max(x.id) from outbound_messages x
                                             where x.broadcast_recipient = r.id)
    where r.broadcast_id = $1
    group by r.state, r.reason, o.status, o.error_code, deferred
    order by count(*) desc";

/// A broadcast's recipients by id after `$2`, at most `$3`.
pub(super) const BROADCAST_RECIPIENTS: &str = "
    select id, conversation_id, contact_id, state, reason, outbound_id
    from broadcast_recipients
    where broadcast_id = $1 and id > $2
    order by id limit $3";
