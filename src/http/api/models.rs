//! What language models did and cost: `GET /api/models/usage` (calls, failures, tokens and
//! cost summed by model, flow or conversation, optionally since a time) and
//! `GET /api/conversations/{id}/exchanges` (a conversation's model exchanges, newest first:
//! the request as recorded, the answer, tokens, cost, latency). Costs are US dollars from
//! the config's prices.

use crate::domain::chat::dollars;
use crate::http::api::body::Fields;
use crate::http::api::common::{conversation, limit};
use crate::http::error::{Error, PathParam};
use crate::http::state::AppState;
use crate::store::{ModelExchange, UsageBy};
use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// `GET /api/models/usage?by=model|flow|conversation&since=RFC3339&limit=`.
pub async fn usage(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Error> {
    let q = Fields::from_query(query.as_deref());
    let by = match q.opt_str("by")?.unwrap_or("model") {
        "model" => UsageBy::Model,
        "flow" => UsageBy::Flow,
        "conversation" => UsageBy::Conversation,
        other => {
            return Err(Error::field(
                "by",
                format!("`{other}` is not a grouping; use model, flow or conversation"),
            ))
        }
    };
    let since = match q.opt_str("since")? {
        None => None,
        Some(s) => Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|_| {
                    Error::field(
                        "since",
                        format!("`{s}` is not a time like 2026-11-01T00:00:00Z"),
                    )
                })?
                .with_timezone(&Utc),
        ),
    };
    let rows = st.store.model_usage(by, since, limit(&q)?).await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "key": r.key,
                "calls": r.calls,
                "failed": r.failed,
                "input_tokens": r.input_tokens,
                "output_tokens": r.output_tokens,
                "cost": dollars(r.cost_micros.max(0) as u64),
            })
        })
        .collect();
    Ok(Json(json!({
        "success": true,
        "by": q.opt_str("by")?.unwrap_or("model"),
        "since": since.map(|t| t.to_rfc3339()),
        "usage": items,
    })))
}

/// `GET /api/conversations/{conversation_id}/exchanges?limit=`.
pub async fn exchanges(
    State(st): State<AppState>,
    PathParam(raw_id): PathParam,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Error> {
    let q = Fields::from_query(query.as_deref());
    let limit = limit(&q)?;
    let conversation = conversation(&st, &raw_id).await?;
    let rows = st
        .store
        .conversation_exchanges(conversation.id, limit)
        .await?;
    Ok(Json(json!({
        "success": true,
        "exchanges": rows.iter().map(describe).collect::<Vec<_>>(),
    })))
}

fn describe(x: &ModelExchange) -> Value {
    json!({
        "event_id": x.event_id,
        "seq": x.seq,
        "kind": x.kind,
        "flow": x.flow,
        "step": x.step,
        "model": x.model,
        "request": x.request,
        "answer": x.answer,
        "error": x.error,
        "input_tokens": x.input_tokens,
        "output_tokens": x.output_tokens,
        "cost": dollars(x.cost_micros.max(0) as u64),
        "latency_ms": x.latency_ms,
        "at": x.created_at.to_rfc3339(),
    })
}
