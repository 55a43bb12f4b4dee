//! Webhook ingress on PostgreSQL: a batch of messages and statuses in one transaction, one
//! statement per message.

use super::announce;
use super::column_groups::{columns, Group, Numbering};
use super::identity;
use super::inbox::latest_broadcast_reply;
use super::media::{any_media, enqueue_downloads};
use super::statuses::{ingest_status, lock_provider_ids};
use super::PgStore;
use crate::domain::{EventKind, Identities, InboundMessage, OutboundMessage, WindowFallback};
use crate::store::apply::lease_until;
use crate::store::{ClaimedWork, InboxClaim, Ingest, IngestItem, IngestOutcome, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use std::collections::HashMap;
use std::sync::LazyLock;

#[async_trait]
impl Ingest for PgStore {
    /// All messages of the batch in ONE statement; statuses (which must see each other in
    /// order) one by one after it, in the same transaction. A batch of messages only is a
    /// single round trip in its own transaction, so the conversations it touches stay
    /// locked only while that statement runs.
    ///
    /// The claim rides in the messages' statement: the conversation upsert that marks a
    /// conversation as having work also leases it to the claim's owner where nobody holds
    /// it (up to `claim.limit` of them), so the inbox neither claims it in a statement of
    /// its own nor rewrites its row a second time. A conversation whose only work is what
    /// the statement stored (most: one message, nothing waiting before it) is handed over
    /// with the statement's rows to read (`read_whole_work`); the others' events are
    /// loaded when they run (`ClaimedWork::to_load`, through the batched loads), as are
    /// all of a batch that needs a transaction.
    async fn ingest_and_claim(
        &self,
        items: &[IngestItem],
        claim: Option<&InboxClaim>,
    ) -> StoreResult<(Vec<IngestOutcome>, Vec<ClaimedWork>)> {
        let messages: Vec<(usize, i64, &InboundMessage, DateTime<Utc>)> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item {
                IngestItem::Message {
                    sender_id,
                    message,
                    received_at,
                } => Some((i, *sender_id, message, *received_at)),
                IngestItem::Status { .. } | IngestItem::IdentityChange { .. } => None,
            })
            .collect();
        let mut outcomes: Vec<Option<IngestOutcome>> = vec![None; items.len()];
        let tell = self.events.on();
        let mut keys: Vec<String> = messages.iter().map(|m| m.2.from.key()).collect();
        // Senders with a business-scoped user id are found (or joined) by phone and/or BSUID
        // first, in the same transaction; the rest are keyed by their phone alone.
        let needs_link = messages.iter().any(|m| m.2.from.user_id().is_some());
        // Media to download is enqueued in the transaction that stores its message.
        let media = any_media(&messages);
        // An echo is also recorded as a message the business sent, in the same transaction.
        let echoes = messages
            .iter()
            .any(|m| matches!(m.2.content, crate::domain::InboundContent::Echo { .. }));
        let claimed;
        if messages.len() == items.len() && !needs_link && !media && !echoes {
            let mut conn = self.pool.acquire().await?;
            claimed = ingest_messages(&mut conn, &messages, &keys, claim, &mut outcomes).await?;
        } else {
            let mut tx = self.pool.begin().await?;
            for (m, key) in messages.iter().zip(keys.iter_mut()) {
                if m.2.from.user_id().is_none() {
                    continue;
                }
                let linked = identity::link(
                    &mut tx,
                    &Identities::of(&m.2.from),
                    None,
                    m.2.profile_name.as_deref(),
                    m.2.username.as_deref(),
                    m.3,
                    true,
                )
                .await?;
                if let Some((_, linked)) = linked {
                    *key = linked;
                }
            }
            // Later statements of this transaction may still change the conversations
            // (an identity change merges them): their work is loaded after the commit.
            claimed = ingest_messages(&mut tx, &messages, &keys, claim, &mut outcomes)
                .await?
                .into_iter()
                .map(|work| ClaimedWork::to_load(work.conversation_id))
                .collect();
            if media {
                enqueue_downloads(&mut tx, &messages, &outcomes).await?;
            }
            if echoes {
                record_echoes(&mut tx, &messages, &outcomes).await?;
            }
            // See `lock_provider_ids`: a status racing its send's outcome is not lost.
            let provider_ids: Vec<&str> = items
                .iter()
                .filter_map(|item| match item {
                    IngestItem::Status { status, .. } => Some(status.provider_message_id.as_str()),
                    IngestItem::Message { .. } | IngestItem::IdentityChange { .. } => None,
                })
                .collect();
            lock_provider_ids(&mut tx, &provider_ids).await?;
            for (i, item) in items.iter().enumerate() {
                if let IngestItem::Status {
                    sender_id,
                    status,
                    received_at,
                } = item
                {
                    outcomes[i] =
                        Some(ingest_status(&mut tx, *sender_id, status, *received_at, tell).await?);
                }
                if let IngestItem::IdentityChange {
                    change,
                    received_at,
                    ..
                } = item
                {
                    outcomes[i] = Some(IngestOutcome::IdentityApplied {
                        contact_id: identity::apply_change(&mut tx, change, *received_at).await?,
                    });
                }
            }
            tx.commit().await?;
        }
        Ok((
            outcomes
                .into_iter()
                .map(|o| o.expect("every item has an outcome"))
                .collect(),
            claimed,
        ))
    }
}

/// Records each echo stored just now as a message the business sent (`sent`, origin
/// `echo`), so delivery statuses Meta sends for it apply and the conversation's outbound
/// messages show what the person wrote.
async fn record_echoes(
    conn: &mut PgConnection,
    messages: &[(usize, i64, &InboundMessage, DateTime<Utc>)],
    outcomes: &[Option<IngestOutcome>],
) -> StoreResult<()> {
    for (i, sender_id, message, received_at) in messages {
        let (
            Some(content),
            Some(IngestOutcome::Stored {
                conversation_id, ..
            }),
        ) = (message.content.echoed(), &outcomes[*i])
        else {
            continue;
        };
        let payload = OutboundMessage {
            to: message.from.clone(),
            content,
            trace: None,
        };
        sqlx::query(
            "insert into outbound_messages
                 (sender_id, conversation_id, payload, fallback, origin, status,
                  provider_message_id, next_attempt_at, created_at, updated_at)
             values ($1, $2, $3, $4, 'echo', 'sent', $5, $6, $6, $6)",
        )
        .bind(sender_id)
        .bind(conversation_id)
        .bind(Json(&payload))
        .bind(Json(&WindowFallback::Skip))
        .bind(&message.provider_message_id)
        .bind(received_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

columns! {
    /// The messages of an ingest, one row each, in the batch's order.
    struct InputRows<'a> {
        sender_id: i64 => "bigint",
        provider_message_id: &'a str => "text",
        key: &'a str => "text",
        name: Option<&'a str> => "text",
        received_at: DateTime<Utc> => "timestamptz",
        sent_at: Option<DateTime<Utc>> => "timestamptz",
        payload: Json<EventKind> => "jsonb",
    }
}

/// The statement of `ingest_messages`: the messages (`InputRows`), then the claim's owner,
/// how many conversations it takes, its lease's end and its time, bound in that order.
static INGEST_MESSAGES: LazyLock<String> = LazyLock::new(|| {
    let mut p = Numbering::default();
    let (input, input_names) = (p.unnest::<InputRows>(), InputRows::names());
    let (owner, limit) = (p.next("text"), p.next("bigint"));
    let (until, now) = (p.next("timestamptz"), p.next("timestamptz"));
    let announce = announce::channel!();
    let reply = latest_broadcast_reply!("w.whole_work");
    format!(
        "with input as (
             select * from {input} with ordinality as i({input_names}, n)
         ), fresh as (
             select * from input i
             where not exists (select 1 from conversation_events e
                               where e.sender_id = i.sender_id
                                 and e.provider_message_id = i.provider_message_id)
         ), contact as (
             insert into contacts (key, name, created_at, phone, bsuid)
             select key, (array_agg(name order by n desc) filter (where name is not null))[1],
                    min(received_at),
                    case when key like 'bsuid:%' then null else key end,
                    case when key like 'bsuid:%' then substr(key, 7) end
             from fresh group by key order by 1
             on conflict (key) do update set name = coalesce(excluded.name, contacts.name)
             returning id, key, name, attributes, tags, created_at, bsuid, username
         ), locked as (
             -- the rows as they are now (locked): whether work waited before this one
             select v.id, v.lease_until, v.has_work from conversations v
             join (select distinct f.sender_id, c.id as contact_id
                   from fresh f join contact c on c.key = f.key) t
               on t.sender_id = v.sender_id and t.contact_id = v.contact_id
             order by v.id
             for no key update of v
         ), conversation as (
             insert into conversations
                 (sender_id, contact_id, last_inbound_at, has_work, work_since, created_at,
                  lease_owner, lease_until)
             select f.sender_id, c.id, max(f.sent_at), true, min(f.received_at), min(f.received_at),
                    case when row_number() over (order by min(f.n)) <= {limit} then {owner} end,
                    case when row_number() over (order by min(f.n)) <= {limit} then {until} end
             from fresh f join contact c on c.key = f.key
             where (select count(*) from locked) >= 0
             group by f.sender_id, c.id order by f.sender_id, c.id
             on conflict (sender_id, contact_id) do update set
                 last_inbound_at = greatest(conversations.last_inbound_at, excluded.last_inbound_at),
                 has_work = true,
                 work_since = coalesce(conversations.work_since, excluded.work_since),
                 lease_owner = case
                     when excluded.lease_owner is not null
                      and coalesce(conversations.lease_until, '-infinity'::timestamptz) <= {now}
                     then excluded.lease_owner else conversations.lease_owner end,
                 lease_until = case
                     when excluded.lease_owner is not null
                      and coalesce(conversations.lease_until, '-infinity'::timestamptz) <= {now}
                     then excluded.lease_until else conversations.lease_until end
             returning id, sender_id, contact_id, lease_owner, lease_until, last_inbound_at,
                 state, created_at, xmax = 0 as inserted
         ), event as (
             insert into conversation_events
                 (conversation_id, sender_id, provider_message_id, kind, payload, received_at)
             select v.id, f.sender_id, f.provider_message_id, 'message', f.payload, f.received_at
             from fresh f
             join contact c on c.key = f.key
             join conversation v on v.sender_id = f.sender_id and v.contact_id = c.id
             order by f.n
             on conflict (sender_id, provider_message_id) do nothing
             returning id, conversation_id, sender_id, provider_message_id, payload, received_at
         ), announced as (
             -- work nobody leased: the other processes' inboxes are told (`announce`)
             select pg_notify({announce}, '') from conversation where lease_owner is null limit 1
         ), handed as (
             select v.id,
                    v.lease_owner = {owner} and v.lease_until = {until}
                    and not exists (select 1 from locked l where l.id = v.id
                                    and coalesce(l.lease_until, '-infinity'::timestamptz) > {now})
                    as claimed
             from conversation v
         ), whole as (
             -- claimed, and its only work is what this statement stored: its rows here
             -- hold all of it (`read_whole_work`)
             select h.id, h.claimed,
                    h.claimed
                    and (v.inserted or exists (select 1 from locked l
                                               where l.id = v.id and not l.has_work))
                    and not exists (select 1 from conversation_events p
                                    where p.conversation_id = v.id and p.processed_at is null)
                    as whole_work
             from handed h join conversation v on v.id = h.id
         )
         select e.id as event_id, e.provider_message_id, e.payload as event_payload,
                e.received_at as event_received_at, w.claimed, w.whole_work,
                v.id, v.sender_id, v.contact_id, v.last_inbound_at, v.state, v.created_at,
                c.key, c.name, c.attributes, c.tags, c.created_at as contact_created_at,
                c.bsuid, c.username,
                br.id as reply_recipient, br.reply_flow, br.reply_until
         from conversation v
         join whole w on w.id = v.id
         join contact c on c.id = v.contact_id
         left join event e on e.conversation_id = v.id
         {reply}
         cross join (select count(*) from announced) a
         -- events in message order (inserted so), conversations without one last
         order by e.id nulls last"
    )
});

/// Stores `messages` (index into the batch, sender, message, receipt time) in one statement
/// and fills their `outcomes`. A message seen before (stored earlier, or earlier in this
/// batch) touches nothing and is a `Duplicate`. Contacts are upserted once each in key
/// order, then the conversations that exist already are locked in id order (the order of
/// batched steps and timer firing) before any is changed, so overlapping batches, steps and
/// timers queue instead of deadlocking. Should the same message reach two processes at
/// once, the unique key on events lets only one insert win.
///
/// With a `claim`, the upsert that gives a conversation work also leases it to the claim's
/// owner when no lease on it runs at `claim.now`, for the first `claim.limit` conversations
/// in message order, and their ids are returned in that order (the `locked` rows tell a
/// lease taken here from one the owner held already). When a conversation it gave work is
/// leased by nobody (no claim, or no room left in it), the statement notifies the other
/// processes (`announce`).
async fn ingest_messages(
    conn: &mut PgConnection,
    messages: &[(usize, i64, &InboundMessage, DateTime<Utc>)],
    keys: &[String],
    claim: Option<&InboxClaim>,
    outcomes: &mut [Option<IngestOutcome>],
) -> StoreResult<Vec<ClaimedWork>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let mut input = InputRows::default();
    for (_, sender_id, message, received_at) in messages {
        input.sender_id.push(*sender_id);
        input
            .provider_message_id
            .push(message.provider_message_id.as_str());
        input.name.push(message.profile_name.as_deref());
        input.received_at.push(*received_at);
        // Echoes, history and calls the business made leave the window (null is ignored
        // by `max` and `greatest`).
        input.sent_at.push(message.opens_window_at(*received_at));
        input
            .payload
            .push(Json(EventKind::Message((*message).clone())));
    }
    input.key = keys.iter().map(String::as_str).collect();
    let rows = input
        .bind(sqlx::query(&INGEST_MESSAGES))
        .bind(claim.map(|c| &*c.owner))
        .bind(claim.map_or(0, |c| c.limit as i64))
        .bind(claim.map(|c| lease_until(c.now, c.lease)))
        .bind(claim.map(|c| c.now))
        .fetch_all(&mut *conn)
        .await?;
    let mut stored: HashMap<(i64, String), IngestOutcome> = HashMap::with_capacity(rows.len());
    // In the order of the messages that gave them work (the rows come in that order).
    let mut claimed: Vec<i64> = Vec::new();
    // The rows of each conversation whose rows hold its whole work (each has an event).
    let mut whole: HashMap<i64, Vec<PgRow>> = HashMap::new();
    for row in rows {
        let conversation_id: i64 = row.try_get("id")?;
        if row.try_get::<Option<bool>, _>("claimed")? == Some(true)
            && !claimed.contains(&conversation_id)
        {
            claimed.push(conversation_id);
        }
        // A conversation whose message another process stored first has no event here.
        let Some(event_id) = row.try_get::<Option<i64>, _>("event_id")? else {
            continue;
        };
        stored.insert(
            (
                row.try_get("sender_id")?,
                row.try_get("provider_message_id")?,
            ),
            IngestOutcome::Stored {
                event_id,
                conversation_id,
            },
        );
        if row.try_get::<Option<bool>, _>("whole_work")? == Some(true) {
            whole.entry(conversation_id).or_default().push(row);
        }
    }
    // The first of several copies in the batch is the one stored (inserted in batch order).
    for (i, sender_id, message, _) in messages {
        outcomes[*i] = Some(
            stored
                .remove(&(*sender_id, message.provider_message_id.clone()))
                .unwrap_or(IngestOutcome::Duplicate),
        );
    }
    let events = claim.map_or(0, |c| usize::try_from(c.events).unwrap_or(0));
    Ok(claimed
        .into_iter()
        .map(|id| match whole.remove(&id) {
            Some(rows) => read_whole_work(id, rows, events),
            None => ClaimedWork::to_load(id),
        })
        .collect())
}

/// A conversation the ingest claimed whose only work is the events the same statement
/// stored: its work is read from the statement's rows (the conversation and contact as
/// they are now, locked by the statement; the events it inserted; the broadcast reply
/// route), when the inbox runs it, instead of loaded again. Another process's event for
/// it could only have been stored under the conversation's row lock, which shows as
/// `has_work` on the row the statement locked: such a conversation is loaded instead.
fn read_whole_work(id: i64, rows: Vec<PgRow>, events: usize) -> ClaimedWork {
    ClaimedWork::new(id, move || {
        let mut work = match super::inbox::gather_work(&rows).pop() {
            Some((_, work)) => work?,
            None => {
                return Err(crate::store::StoreError::NotFound {
                    what: "conversation",
                    id,
                })
            }
        };
        work.events.truncate(events);
        Ok(work)
    })
}
