//! The audit log over HTTP: `GET /api/audit` (scope `admin`) reads it newest first with
//! filters (`since`, `until` as RFC 3339 times, `actor`, `action`: exactly, or what starts
//! with it and a `.` or a space), `limit` (1 to 1000, 100 by default) and the cursor
//! `before` (the `next_before` of the previous page); `format=jsonl` exports every row the
//! filters select as JSON lines, streamed a page at a time (memory stays flat).
//!
//! Also what the HTTP edge records with: [`record`] appends an entry and never fails the
//! request (a failed write is logged), and a handler may add ids and counts to
//! its API request's entry by putting an [`AuditDetail`] in its response's extensions.

use crate::http::api::body::Fields;
use crate::http::error::Error;
use crate::http::state::AppState;
use crate::store::{AuditEntry, AuditFilter, DynStore, NewAuditEntry, MAX_AUDIT_ENTRIES};
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Rows per page unless `limit` says otherwise.
const DEFAULT_LIMIT: i64 = 100;

/// Ids and counts a handler adds to its request's audit entry (`detail.result`); never a
/// text a person or a customer wrote.
#[derive(Debug, Clone)]
pub struct AuditDetail(pub Value);

/// Appends `entry`; a failure is logged (without the entry's detail) and does not fail the
/// change it records, which has already happened.
pub async fn record(st: &AppState, entry: NewAuditEntry) {
    append(&st.store, entry).await
}

/// [`record`] with a store.
pub async fn append(store: &DynStore, entry: NewAuditEntry) {
    if let Err(e) = store.append_audit(&entry).await {
        crate::metrics::logs::log_every!(
            error,
            error = %e,
            action = %entry.action,
            actor = %entry.actor,
            "could not write an audit log entry"
        );
    }
}

/// `GET /api/audit?since=&until=&actor=&action=&before=&limit=&format=json|jsonl`.
pub async fn list(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, Error> {
    let q = Fields::from_query(query.as_deref());
    let limit = q.opt_int("limit")?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_AUDIT_ENTRIES).contains(&limit) {
        return Err(Error::field(
            "limit",
            format!("must be between 1 and {MAX_AUDIT_ENTRIES}"),
        ));
    }
    let filter = AuditFilter {
        since_ms: time(&q, "since")?,
        until_ms: time(&q, "until")?,
        actor: text(&q, "actor")?,
        action: text(&q, "action")?,
        before: q.opt_int("before")?,
        limit,
    };
    if let (Some(s), Some(u)) = (filter.since_ms, filter.until_ms) {
        if u <= s {
            return Err(Error::field("until", "must be after since"));
        }
    }
    match q.opt_str("format")?.unwrap_or("json") {
        "json" => {}
        "jsonl" => return export(st.store.clone(), filter).await,
        other => {
            return Err(Error::field(
                "format",
                format!("`{other}` is not a format of the audit log; use json or jsonl"),
            ))
        }
    }
    let rows = st.store.audit_entries(&filter).await?;
    let next_before = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Json(json!({
        "success": true,
        "entries": rows.iter().map(row).collect::<Vec<_>>(),
        "next_before": next_before,
    }))
    .into_response())
}

/// Every row `filter` selects (its limit is the page size), as JSON lines. The first page
/// is read before answering, so an unreachable database is a 503 as elsewhere.
async fn export(store: DynStore, mut filter: AuditFilter) -> Result<Response, Error> {
    filter.limit = MAX_AUDIT_ENTRIES;
    let first = store.audit_entries(&filter).await?;
    let chunks = futures::stream::unfold(
        (Some(first), filter, false),
        move |(ready, mut filter, done)| {
            let store = store.clone();
            async move {
                if done {
                    return None;
                }
                let page = match ready {
                    Some(page) => Ok(page),
                    None => store.audit_entries(&filter).await,
                };
                match page {
                    Ok(page) if page.is_empty() => None,
                    Ok(page) => {
                        let last = page.len() < MAX_AUDIT_ENTRIES as usize;
                        filter.before = page.last().map(|r| r.id);
                        let mut text = String::new();
                        for r in &page {
                            text.push_str(&row(r).to_string());
                            text.push('\n');
                        }
                        Some((
                            Ok::<_, std::io::Error>(Bytes::from(text)),
                            (None, filter, last),
                        ))
                    }
                    Err(e) => Some((
                        Err(std::io::Error::other(e.to_string())),
                        (None, filter, true),
                    )),
                }
            }
        },
    );
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(chunks),
    )
        .into_response())
}

/// An entry as the API shows it.
pub fn row(r: &AuditEntry) -> Value {
    let at = DateTime::<Utc>::from_timestamp_millis(r.at_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    json!({
        "id": r.id,
        "at": at,
        "actor": r.actor,
        "via": r.via,
        "action": r.action,
        "target": r.target,
        "source": r.source,
        "status": r.status,
        "detail": r.detail,
    })
}

fn time(q: &Fields, key: &str) -> Result<Option<i64>, Error> {
    let Some(s) = q.opt_str(key)? else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(s)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|_| {
            Error::field(
                key,
                format!("`{s}` is not a time like 2026-11-01T00:00:00Z"),
            )
        })
}

/// A filter's text, at most 200 characters.
fn text(q: &Fields, key: &str) -> Result<Option<String>, Error> {
    match q.opt_str(key)? {
        Some(s) if s.chars().count() > crate::store::MAX_AUDIT_TEXT => Err(Error::field(
            key,
            format!("at most {} characters", crate::store::MAX_AUDIT_TEXT),
        )),
        Some(s) => Ok(Some(s.to_string())),
        None => Ok(None),
    }
}
