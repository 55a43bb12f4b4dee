//! Reading conversations' waiting work: the claim that also reads it (`CLAIM_WORK`),
//! the load of many conversations at once (`LOAD_WORK`), and the rows made into work.

use super::super::rows::{self, json};
use super::claims::claim_update;
use crate::domain::StoredEvent;
use crate::store::{ConversationWork, StoreError, StoreResult};
use sqlx::{PgPool, Row};

/// What `load_work` and `claim_work` read for each conversation `v` (its columns as
/// `rows::conversation` wants them): a row per waiting event (or one row with no event,
/// up to `{events}` of them), each carrying its conversation, contact and the latest
/// broadcast reply route. `$source` provides `v`; `$order` finishes it.
macro_rules! work_query {
    ($source:expr, $events:literal, $order:literal) => {
        concat!(
            $source,
            "
         select v.id, v.sender_id, v.contact_id, v.last_inbound_at, v.state, v.created_at,
                c.key, c.name, c.attributes, c.tags, c.created_at as contact_created_at,
                c.bsuid, c.username,
                e.id as event_id, e.payload as event_payload,
                e.received_at as event_received_at,
                br.id as reply_recipient, br.reply_flow, br.reply_until
         from v
         join contacts c on c.id = v.contact_id
         left join lateral (
             select id, payload, received_at from conversation_events
             where conversation_id = v.id and processed_at is null
             order by id
             limit ",
            $events,
            "
         ) e on true
         ",
            latest_broadcast_reply!("true"),
            "
         order by ",
            $order
        )
    };
}

/// The latest broadcast sent to the customer of conversation `v` that names a reply flow,
/// as `br` (`id`, `reply_flow`, `reply_until`), looked up only where `$when` holds.
macro_rules! latest_broadcast_reply {
    ($when:literal) => {
        concat!(
            "left join lateral (
             select r.id, b.reply_flow, r.reply_until
             from broadcast_recipients r join broadcasts b on b.id = r.broadcast_id
             where ",
            $when,
            " and r.conversation_id = v.id and r.reply_until is not null
               and b.reply_flow is not null
               and exists (select 1 from outbound_messages o where o.broadcast_recipient = r.id
                           and o.status in ('accepted', 'sent', 'delivered', 'read'))
             order by r.id desc limit 1
         ) br on true"
        )
    };
}
pub(in crate::store::postgres) use latest_broadcast_reply;

/// Claims as `claim_conversations` does and reads the claimed conversations' work in the
/// same statement (one round trip, on the lease pool): the update's `returning` gives the
/// conversations' newest rows, the events are those committed when the statement began
/// (later ones keep `has_work` set, so the release says there is more work).
pub(in crate::store::postgres) const CLAIM_WORK: &str = work_query!(
    concat!(
        "with v as (",
        claim_update!("$6"),
        ", sender_id, contact_id, last_inbound_at, state, created_at)"
    ),
    "$5",
    "v.work_since, v.id, e.id"
);

/// The waiting work of many conversations (`$1`, at most `$2` events each).
const LOAD_WORK: &str = work_query!(
    "with v as (select * from conversations where id = any($1))",
    "$2",
    "v.id, e.id"
);

/// The work in `rows` (`work_query!`), each conversation once, in the order the rows give
/// them. A conversation whose row cannot be read gets the error instead.
pub(in crate::store::postgres) fn gather_work(
    rows: &[sqlx::postgres::PgRow],
) -> Vec<(i64, StoreResult<ConversationWork>)> {
    let mut found: Vec<(i64, StoreResult<ConversationWork>)> = Vec::new();
    for row in rows {
        let read = (|| -> StoreResult<(i64, Option<StoredEvent>)> {
            let id: i64 = row.try_get("id")?;
            let event = match row.try_get::<Option<i64>, _>("event_id")? {
                Some(event_id) => Some(StoredEvent {
                    id: event_id,
                    conversation_id: id,
                    kind: json(row, "event_payload")?,
                    received_at: row.try_get("event_received_at")?,
                }),
                None => None,
            };
            Ok((id, event))
        })();
        let (id, event) = match read {
            Ok(read) => read,
            Err(e) => {
                if let Ok(id) = row.try_get::<i64, _>("id") {
                    match found.iter_mut().find(|(i, _)| *i == id) {
                        Some(entry) => entry.1 = Err(e),
                        None => found.push((id, Err(e))),
                    }
                }
                continue;
            }
        };
        // Rows come grouped by conversation: the last entry is the one to extend.
        if found.last().map(|(i, _)| *i) != Some(id) {
            let work = (|| -> StoreResult<ConversationWork> {
                Ok(ConversationWork {
                    conversation: rows::conversation(row)?,
                    contact: rows::contact(row, "contact_id", "contact_created_at")?,
                    events: Vec::new(),
                    broadcast_reply: match row.try_get::<Option<i64>, _>("reply_recipient")? {
                        Some(recipient_id) => Some(crate::domain::broadcast::BroadcastReply {
                            recipient_id,
                            flow: row.try_get("reply_flow")?,
                            until: row.try_get("reply_until")?,
                        }),
                        None => None,
                    },
                })
            })();
            found.push((id, work));
        }
        if let (Some((_, Ok(work))), Some(event)) = (found.last_mut(), event) {
            work.events.push(event);
        }
    }
    found
}

/// The waiting work of many conversations (id, events wanted) in ONE query (`LOAD_WORK`).
/// Loads are batched as writes are (see `batch.rs`): under load, the conversations claimed
/// together are read together.
pub(in crate::store::postgres) async fn load_work(
    pool: PgPool,
    wanted: Vec<(i64, i64)>,
) -> Vec<StoreResult<ConversationWork>> {
    let ids: Vec<i64> = wanted.iter().map(|(id, _)| *id).collect();
    let limit = wanted.iter().map(|(_, limit)| *limit).max().unwrap_or(0);
    let rows = sqlx::query(LOAD_WORK)
        .bind(&ids)
        .bind(limit)
        .fetch_all(&pool)
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) if wanted.len() == 1 => return vec![Err(e.into())],
        Err(e) => {
            // Each conversation gets its own answer.
            tracing::warn!(error = %e, conversations = wanted.len(), "loading work together failed; loading it one by one");
            let mut each = Vec::with_capacity(wanted.len());
            for w in wanted {
                each.extend(Box::pin(load_work(pool.clone(), vec![w])).await);
            }
            return each;
        }
    };
    let mut found: std::collections::HashMap<i64, StoreResult<ConversationWork>> =
        gather_work(&rows).into_iter().collect();
    wanted
        .iter()
        .map(|(id, limit)| {
            // The same conversation asked for twice in one batch gets the same answer.
            let mut work = match found.get(id) {
                Some(Ok(work)) => work.clone(),
                Some(Err(_)) => found.remove(id).expect("just seen")?,
                None => {
                    return Err(StoreError::NotFound {
                        what: "conversation",
                        id: *id,
                    })
                }
            };
            work.events.truncate(*limit as usize);
            Ok(work)
        })
        .collect()
}
