//! A step's commit on SQLite, one job on the writer thread: the lease and the event
//! checked, the contact patched, insights counted, timers cancelled and set, the replies
//! queued (the first leased to this process's outbox when it is next to leave), and the
//! conversation's state written or the conversation released.

use super::super::rows::{from_text, json_text, micros, OutboundRow};
use super::super::statements::Conn;
use crate::domain::insight::Tally;
use crate::domain::{ContactPatch, TimerKind};
use crate::store::apply::ContactFields;
use crate::store::{Id, StepCommit, StoreError, StoreResult};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use std::time::Duration;

/// A step serialised for the writer thread (times in microseconds, JSON as text).
pub(super) struct StepWrite {
    pub now: i64,
    pub queued: i64,
    pub conversation_id: i64,
    event_id: i64,
    owner: String,
    release: bool,
    state: String,
    patch: Option<ContactPatch>,
    /// The purposes of the timers it cancels, as a JSON array.
    cancel: Option<String>,
    /// Purpose, due time, payload.
    timers: Vec<(String, i64, String)>,
    outbound: Vec<OutboundRow>,
    hand_until: Option<i64>,
    insight_counts: Option<Tally>,
    at: DateTime<Utc>,
    /// Events out told of this step (`events_out`).
    events: Vec<crate::domain::NewOutEvent>,
}

impl StepWrite {
    pub(super) fn of(step: &StepCommit, outbox_lease: Option<Duration>) -> StoreResult<Self> {
        let cancel = (!step.cancel_timers.is_empty())
            .then(|| {
                let purposes: Vec<String> =
                    step.cancel_timers.iter().map(TimerKind::purpose).collect();
                json_text("timer purposes", &purposes)
            })
            .transpose()?;
        let timers = step
            .timers
            .iter()
            .map(|t| {
                let (purpose, payload) = t.timer.to_row();
                Ok((
                    purpose,
                    micros(t.due_at),
                    json_text("timer payload", &payload)?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Self {
            now: micros(step.now),
            queued: micros(step.queued_at),
            conversation_id: step.conversation_id,
            event_id: step.event_id,
            owner: step.owner.clone(),
            release: step.release,
            state: json_text("conversation state", &step.state)?,
            patch: step.contact_patch.clone(),
            cancel,
            timers,
            outbound: step
                .outbound
                .iter()
                .map(OutboundRow::new)
                .collect::<StoreResult<Vec<_>>>()?,
            hand_until: crate::store::apply::hand_until(step, outbox_lease).map(micros),
            insight_counts: (!step.insights.is_empty()).then(|| step.insights.clone()),
            at: step.now,
            events: step.events.clone(),
        })
    }
}

/// What a committed step gives back: the new messages' ids, the conversation's last
/// inbound time, the reply leased to this process (if any), and whether a released
/// conversation has more work.
pub(super) type Written = (Vec<Id>, Option<i64>, Option<Id>, bool);

/// Commits `w` in the writer's transaction.
pub(super) fn commit(conn: &Conn<'_>, w: &StepWrite) -> StoreResult<Written> {
    let StepWrite {
        now,
        queued,
        conversation_id,
        event_id,
        ref owner,
        release,
        ref state,
        ref patch,
        ref cancel,
        ref timers,
        ref outbound,
        hand_until,
        ref insight_counts,
        at,
        ref events,
    } = *w;
    // A failure on any line below undoes this job's savepoint: nothing is kept.
    // The conversation is read first and written once, last (its state, and its
    // lease when released): this thread is the only writer, so nothing can
    // change it in between.
    let (contact_id, last_inbound_at, held): (i64, Option<i64>, bool) = conn
        .prepare_cached(
            "select contact_id, last_inbound_at,
                    coalesce(lease_owner = ?2 and lease_until > ?3, 0)
             from conversations where id = ?1",
        )?
        .query_row(params![conversation_id, owner, now], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?
        .unwrap_or((0, None, false));
    if !held {
        return Err(StoreError::LeaseLost {
            what: "conversation",
            id: conversation_id,
        });
    }

    // An event is handled once: committing it twice would send its replies twice.
    let marked = conn
        .prepare_cached(
            "update conversation_events set processed_at = ?1
             where id = ?2 and conversation_id = ?3 and processed_at is null",
        )?
        .execute(params![now, event_id, conversation_id])?;
    if marked == 0 {
        return Err(StoreError::NotFound {
            what: "unprocessed event",
            id: event_id,
        });
    }

    if let Some(patch) = &patch {
        patch_contact(conn, contact_id, patch, now)?;
    }
    if let Some(counts) = &insight_counts {
        super::super::insights::add(conn, at, counts)?;
        super::super::unanswered::add(conn, at, &counts.unanswered)?;
        super::super::scores::add(conn, at, conversation_id, &counts.to_score)?;
    }
    super::super::events_log::insert_events(conn, events)?;

    // Cancel before creating, so a step may replace a timer with one of the same
    // purpose.
    if let Some(cancel) = &cancel {
        conn.prepare_cached(
            "delete from timers
             where conversation_id = ?1 and purpose in (select value from json_each(?2))",
        )?
        .execute(params![conversation_id, cancel])?;
    }
    for (purpose, due_at, payload) in timers {
        conn.prepare_cached(
            "insert into timers (conversation_id, purpose, due_at, payload)
             values (?1, ?2, ?3, ?4)",
        )?
        .execute(params![conversation_id, purpose, due_at, payload])?;
    }

    // Whether the first new message will be its conversation's next to leave:
    // asked before inserting, so "no message still queued" means no older one.
    // It is then inserted leased to this process's outbox until `hand_until`
    // (none without replies).
    let hand = match hand_until {
        Some(until) => conn
            .prepare_cached(
                "select not exists (select 1 from outbound_messages
                                    where conversation_id = ?1 and status = 'queued')
                    and not exists (select 1 from sender_stops s
                                    join conversations v on v.sender_id = s.sender_id
                                    where v.id = ?1)",
            )?
            .query_row([conversation_id], |r| r.get::<_, bool>(0))?
            .then_some(until),
        None => None,
    };
    let ids = outbound
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let lease = hand.filter(|_| i == 0).map(|until| (owner.as_str(), until));
            row.insert_leased(conn, queued, lease)
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let handed = hand.and(ids.first().copied());
    let more_work = if release {
        release_lease(conn, conversation_id, owner, Some(state))?
    } else {
        conn.prepare_cached("update conversations set state = ?1 where id = ?2")?
            .execute(params![state, conversation_id])?;
        false
    };
    Ok((ids, last_inbound_at, handed, more_work))
}

/// Gives a conversation back, with its new `state` when a step's commit gives one (that
/// step's one write to its conversation); it keeps `has_work` if events arrived meanwhile,
/// and says so (`true`: a claim should look for it). A state is never dropped: a lease
/// found gone then is an error, though the step's job checked it first.
pub(super) fn release_lease(
    conn: &Conn<'_>,
    conversation_id: i64,
    owner: &str,
    state: Option<&str>,
) -> StoreResult<bool> {
    // Read first, then written with plain values: an `update … returning` builds a
    // temporary b-tree for its row each time it runs. This thread is the only writer, so
    // nothing can arrive between the two statements.
    let work_since: Option<i64> = conn
        .prepare_cached(
            "select min(received_at) from conversation_events
             where conversation_id = ?1 and processed_at is null",
        )?
        .query_row([conversation_id], |r| r.get(0))?;
    let released = conn
        .prepare_cached(
            "update conversations set
                 state = coalesce(?4, state), lease_owner = null, lease_until = null,
                 work_since = ?3, has_work = ?3 is not null
             where id = ?1 and lease_owner = ?2",
        )?
        .execute(params![conversation_id, owner, work_since, state])?;
    if released == 0 && state.is_some() {
        return Err(StoreError::LeaseLost {
            what: "conversation",
            id: conversation_id,
        });
    }
    Ok(released == 1 && work_since.is_some())
}

fn patch_contact(
    conn: &Conn<'_>,
    contact_id: i64,
    patch: &ContactPatch,
    now: i64,
) -> StoreResult<()> {
    let (name, attributes, tags) = conn
        .prepare_cached("select name, attributes, tags from contacts where id = ?1")?
        .query_row([contact_id], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
    let mut fields = ContactFields {
        name,
        attributes: from_text("contact attributes", &attributes)?,
        tags: from_text("contact tags", &tags)?,
    };
    patch.apply_to(&mut fields.name, &mut fields.attributes, &mut fields.tags);
    conn.prepare_cached("update contacts set name = ?1, attributes = ?2, tags = ?3 where id = ?4")?
        .execute(params![
            fields.name,
            json_text("contact attributes", &fields.attributes)?,
            json_text("contact tags", &fields.tags)?,
            contact_id
        ])?;
    if patch.opts_out() {
        super::super::outbox::stop_queued_sends(conn, contact_id, now)?;
    }
    Ok(())
}
