//! The write side of events out (issue 57): recording `NewOutEvent`s in `events_out`, in the
//! transaction of the change they tell of where there is one (`StepCommit.events`, ingest,
//! outcomes, statuses, imports, broadcasts), or on their own (`EventsLog::record_events`).
//!
//! Events are recorded only when someone listens (`events.endpoints` or `chatwoot` set):
//! the daemon says so once at start (`EventsLog::record_events_from_now`). Until then every
//! path that would write an event skips it, and the workers build none, so a Parley without
//! endpoints does no extra work on its hot path.

use crate::domain::{Id, NewOutEvent, OutEvent};
use crate::store::StoreResult;
use async_trait::async_trait;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[async_trait]
pub trait EventsLog: Send + Sync {
    /// From now on, the store records events (someone listens). Called once at start; every
    /// clone of the store follows.
    fn record_events_from_now(&self);

    /// Whether events are recorded: the workers ask before building any.
    fn records_events(&self) -> bool;

    /// Records `events` in one transaction of their own, in order (nothing when events are
    /// not recorded). For changes that have no transaction of their own in the store.
    async fn record_events(&self, events: &[NewOutEvent]) -> StoreResult<()>;

    /// Recorded events with ids above `after`, in id order, at most `limit` (tests, tools).
    async fn logged_events(&self, after: Id, limit: i64) -> StoreResult<Vec<OutEvent>>;
}

/// Whether a store records events; shared by the store's clones.
#[derive(Debug, Clone, Default)]
pub struct Recording(Arc<AtomicBool>);

impl Recording {
    pub fn on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A row of `events_out` as read back: (id, kind, conversation_id, sender_id), its time
/// and its data, as the backend decoded them.
pub(crate) fn logged(
    (id, kind, conversation_id, sender_id): (Id, String, Option<Id>, Option<i64>),
    at: chrono::DateTime<chrono::Utc>,
    data: serde_json::Value,
) -> StoreResult<OutEvent> {
    let kind = crate::domain::OutEventKind::parse(&kind).ok_or_else(|| {
        crate::store::StoreError::Corrupt(format!("event {id} has an unknown kind {kind:?}"))
    })?;
    Ok(OutEvent {
        id,
        kind,
        at,
        conversation_id,
        sender_id,
        data,
    })
}

/// At most this many events are read back at once.
pub(crate) fn bounded(limit: i64) -> i64 {
    limit.clamp(1, 1000)
}

/// One imported contact as events tell it, on both backends.
pub(crate) struct Imported<'a> {
    /// id, key, name (after the row), BSUID.
    pub contact: (Id, String, Option<String>, Option<String>),
    pub created: bool,
    /// The name before the row, if the contact existed.
    pub name_before: Option<String>,
    pub row: &'a crate::domain::contact_file::ContactImport,
    /// Whether the row changed its attributes or tags.
    pub changed: bool,
    /// Whether the contact was opted out before the row.
    pub was_out: bool,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// The events of an imported row: `contact.created` for a new contact, `contact.changed`
/// for one the row changed, and `contact.opted_out` when the row opted out a contact that
/// was not (all `via: import`; contacts have no conversation: `conversation_id` null).
pub(crate) fn import_events(i: &Imported<'_>) -> Vec<NewOutEvent> {
    use crate::domain::out_event_data::{
        bare_contact, contact_changed, contact_created, contact_opted_out, Place,
    };
    let (id, key, name, bsuid) = &i.contact;
    let who = bare_contact(*id, key, name.clone(), bsuid.clone());
    let place = Place {
        conversation_id: None,
        sender_id: None,
        at: i.now,
    };
    let mut patch = i.row.patch();
    let renamed = i.row.name.is_some() && i.row.name != i.name_before;
    if renamed {
        patch.name = i.row.name.clone();
    }
    let mut out = Vec::new();
    if i.created {
        out.push(contact_created(&place, &who, "import"));
    } else if i.changed || renamed {
        out.push(contact_changed(&place, &who, &patch, "import"));
    }
    if patch.opts_out() && !i.was_out {
        out.push(contact_opted_out(&place, &who, "import"));
    }
    out
}

/// Whether attributes say the contact opted out.
pub(crate) fn opted_out(attributes: &serde_json::Map<String, serde_json::Value>) -> bool {
    attributes.get(crate::domain::contact::OPTED_OUT) == Some(&serde_json::Value::Bool(true))
}

/// The events of a marketing preference (`user_preferences`): `contact.created` for a
/// contact Parley met through it, `contact.opted_out` (`via: marketing_preference`: the
/// customer stopped marketing messages) when it newly stops them.
pub(crate) fn preference_events(
    (id, key, name, bsuid): (Id, String, Option<String>, Option<String>),
    created: bool,
    newly_stopped: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<NewOutEvent> {
    use crate::domain::out_event_data::{bare_contact, contact_created, contact_opted_out, Place};
    let who = bare_contact(id, &key, name, bsuid);
    let place = Place {
        conversation_id: None,
        sender_id: None,
        at: now,
    };
    let mut out = Vec::new();
    if created {
        out.push(contact_created(&place, &who, "marketing_preference"));
    }
    if newly_stopped {
        out.push(contact_opted_out(&place, &who, "marketing_preference"));
    }
    out
}

/// `at` as PostgreSQL keeps it (whole microseconds), to compare with a stored time.
pub(crate) fn to_micros(at: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

/// A broadcast as `broadcast.finished` tells it: id, name, sender, template (name,
/// language), and its recipients counted by (state, skip reason).
pub(crate) struct FinishedBroadcast {
    pub id: Id,
    pub name: String,
    pub sender_id: i64,
    pub template: (String, String),
    pub counts: Vec<(String, Option<String>, i64)>,
}

/// `broadcast.finished`: every recipient of the broadcast is queued or skipped (their
/// sends' statuses follow as `message.status` with `origin: broadcast`).
pub(crate) fn broadcast_finished(
    b: &FinishedBroadcast,
    now: chrono::DateTime<chrono::Utc>,
) -> NewOutEvent {
    use crate::domain::out_event_data::Place;
    let mut skipped = serde_json::Map::new();
    let (mut total, mut queued) = (0, 0);
    for (state, reason, n) in &b.counts {
        total += n;
        match state.as_str() {
            "skipped" => {
                let key = reason.clone().unwrap_or_else(|| "unknown".into());
                let v = skipped.entry(key).or_insert(serde_json::json!(0));
                *v = serde_json::json!(v.as_i64().unwrap_or(0) + n);
            }
            _ => queued += n,
        }
    }
    let place = Place {
        conversation_id: None,
        sender_id: Some(b.sender_id),
        at: now,
    };
    let data = serde_json::json!({
        "broadcast_id": b.id,
        "name": b.name,
        "template": { "name": b.template.0, "language": b.template.1 },
        "recipients": total,
        "queued": queued,
        "skipped": skipped,
    });
    let serde_json::Value::Object(data) = data else {
        unreachable!("a JSON object")
    };
    place.event(crate::domain::OutEventKind::BroadcastFinished, data)
}

/// The statements reading a finished broadcast (`?1`/`$1`: its id), the same on both
/// backends but for the placeholder.
pub(crate) const FINISHED_BROADCAST: &str =
    "select name, sender_id, template_name, template_language from broadcasts where id = $1";
pub(crate) const FINISHED_COUNTS: &str = "select state, reason, count(*) from broadcast_recipients
     where broadcast_id = $1 group by state, reason order by state, reason";
