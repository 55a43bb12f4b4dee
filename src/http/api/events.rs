//! Events out, for people and tools: `GET /api/events/deliveries` (the delivery log, newest
//! first, filtered by endpoint, state, kind, conversation; paged with `before`),
//! `GET /api/events/{id}` (an event with its payload and its deliveries) and
//! `POST /api/events/replay` (deliveries brought back to pending: by id, or an endpoint's
//! parked ones of a period).

use crate::domain::{OutEvent, OutEventKind};
use crate::http::api::body::Fields;
use crate::http::error::{Error, PathParam};
use crate::http::state::AppState;
use crate::store::{Delivery, DeliveryFilter, DeliveryState, ReplaySelection};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Rows of the log per page, unless `limit` says fewer.
const DEFAULT_LIMIT: i64 = 100;
/// Most rows of the log per page.
const MAX_LIMIT: i64 = 500;
/// Most delivery ids one replay names.
const MAX_REPLAY_IDS: usize = 1_000;

/// `GET /api/events/deliveries?endpoint=&state=&kind=&conversation_id=&before=&limit=`.
pub async fn deliveries(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Error> {
    let q = Fields::from_query(query.as_deref());
    let limit = q.opt_int("limit")?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let filter = DeliveryFilter {
        endpoint: endpoint(&q, false)?,
        state: state(&q)?,
        kind: kind(&q)?,
        conversation_id: q.opt_int("conversation_id")?,
        event_id: None,
        before: q.opt_int("before")?,
        limit,
    };
    let rows = st.store.deliveries(&filter).await?;
    let next_before = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|d| d.id))
        .flatten();
    Ok(Json(json!({
        "success": true,
        "deliveries": rows.iter().map(row).collect::<Vec<_>>(),
        "next_before": next_before,
    })))
}

/// `GET /api/events/{id}` (`evt_12` or `12`).
pub async fn show(
    State(st): State<AppState>,
    PathParam(raw): PathParam,
) -> Result<Json<Value>, Error> {
    let id = raw
        .strip_prefix("evt_")
        .unwrap_or(&raw)
        .parse::<i64>()
        .map_err(|_| Error::not_found(format!("no event `{raw}`: event ids look like evt_12")))?;
    let event = st
        .store
        .out_event(id)
        .await?
        .ok_or_else(|| Error::not_found(format!("no event evt_{id}")))?;
    let filter = DeliveryFilter {
        event_id: Some(id),
        limit: MAX_LIMIT,
        ..DeliveryFilter::default()
    };
    let deliveries = st.store.deliveries(&filter).await?;
    Ok(Json(json!({
        "success": true,
        "event": event_json(&event),
        "deliveries": deliveries.iter().map(row).collect::<Vec<_>>(),
    })))
}

/// `POST /api/events/replay` `{endpoint, delivery_ids}` or `{endpoint, state: "parked",
/// since?, until?}`.
pub async fn replay(State(st): State<AppState>, body: Bytes) -> Result<Json<Value>, Error> {
    let f = Fields::parse(&body)?;
    let endpoint = endpoint(&f, true)?.unwrap_or_default();
    let selection = match f.opt_array("delivery_ids")? {
        Some(ids) => {
            if f.has("state") || f.has("since") || f.has("until") {
                return Err(Error::field(
                    "delivery_ids",
                    "give either delivery_ids, or state \"parked\" with since and until, not both",
                ));
            }
            if ids.is_empty() || ids.len() > MAX_REPLAY_IDS {
                return Err(Error::field(
                    "delivery_ids",
                    format!("name 1 to {MAX_REPLAY_IDS} deliveries"),
                ));
            }
            let ids = ids
                .iter()
                .map(|v| v.as_i64())
                .collect::<Option<Vec<i64>>>()
                .ok_or_else(|| {
                    Error::field(
                        "delivery_ids",
                        "must be the ids of deliveries, like [12, 13]",
                    )
                })?;
            ReplaySelection::Ids(ids)
        }
        None => {
            if f.opt_str("state")? != Some("parked") {
                return Err(Error::field(
                    "state",
                    "give delivery_ids, or state \"parked\" (with since and until to limit the period)",
                ));
            }
            let (since, until) = (time(&f, "since")?, time(&f, "until")?);
            if let (Some(s), Some(u)) = (since, until) {
                if u <= s {
                    return Err(Error::field("until", "must be after since"));
                }
            }
            ReplaySelection::Parked { since, until }
        }
    };
    let requeued = st
        .store
        .replay_deliveries(&endpoint, &selection, st.clock.now())
        .await?;
    Ok(Json(
        json!({ "success": true, "endpoint": endpoint, "requeued": requeued }),
    ))
}

fn endpoint(f: &Fields, required: bool) -> Result<Option<String>, Error> {
    match f.opt_str("endpoint")? {
        Some(name) if !name.is_empty() && name.chars().count() <= 64 => Ok(Some(name.into())),
        Some(_) => Err(Error::field(
            "endpoint",
            "must be an endpoint's name (events.endpoints[].name)",
        )),
        None if required => Err(Error::field(
            "endpoint",
            "name the endpoint (events.endpoints[].name)",
        )),
        None => Ok(None),
    }
}

fn state(q: &Fields) -> Result<Option<DeliveryState>, Error> {
    q.opt_str("state")?
        .map(|s| {
            DeliveryState::parse(s).ok_or_else(|| {
                Error::field(
                    "state",
                    format!("`{s}` is not pending, delivered or parked"),
                )
            })
        })
        .transpose()
}

fn kind(q: &Fields) -> Result<Option<OutEventKind>, Error> {
    q.opt_str("kind")?
        .map(|s| {
            OutEventKind::parse(s).ok_or_else(|| {
                Error::field(
                    "kind",
                    format!("`{s}` is not a kind of event, like message.received"),
                )
            })
        })
        .transpose()
}

fn time(f: &Fields, key: &str) -> Result<Option<DateTime<Utc>>, Error> {
    let Some(s) = f.opt_str(key)? else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(s)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| {
            Error::field(
                key,
                format!("`{s}` is not a time like 2026-11-01T00:00:00Z"),
            )
        })
}

/// A delivery as the API shows it.
pub fn row(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "event_id": format!("evt_{}", d.event_id),
        "kind": d.kind.as_str(),
        "endpoint": d.endpoint,
        "conversation_id": d.conversation_id,
        "state": d.state,
        "attempts": d.attempts,
        "next_at": (d.state == DeliveryState::Pending).then(|| d.next_at.to_rfc3339()),
        "last_attempt_at": d.last_attempt_at.map(|t| t.to_rfc3339()),
        "last_status": d.last_status,
        "last_error": d.last_error,
        "delivered_at": d.delivered_at.map(|t| t.to_rfc3339()),
        "event_at": d.event_at.to_rfc3339(),
    })
}

fn event_json(e: &OutEvent) -> Value {
    json!({
        "id": e.webhook_id(),
        "kind": e.kind.as_str(),
        "conversation_id": e.conversation_id,
        "sender_id": e.sender_id,
        "payload": e.payload(),
    })
}
