//! The hosted platforms' reads (seeds 000–002): `GET /api/user/whatsapp/session-status`,
//! `…/senders` (with `status` online/offline and a `?status=` filter) and `…/templates`
//! (with a `?status=` filter), in the platforms' `{"success": true, …}` envelope.

use super::send::recipient;
use crate::config::ChannelKind;
use crate::domain::session;
use crate::http::api::body::Fields;
use crate::http::api::outbox;
use crate::http::api::session::window_of;
use crate::http::error::Error;
use crate::http::state::AppState;
use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

pub async fn session_status(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Error> {
    let q = Fields::from_query(query.as_deref());
    let sender_id = q.int("sender_id")?;
    let contact = recipient(&q)?;
    let sender = outbox::sender(&st, sender_id).ok_or_else(Error::sender_not_found)?;
    if let Some(refused) = crate::http::api::auth::sender_refusal(sender.id) {
        return Err(refused);
    }
    let conversation = st
        .store
        .find_conversation(sender.id, &contact.key())
        .await?;
    let window = window_of(&st, conversation.as_ref()).await?;
    Ok(Json(json!({
        "success": true,
        "session_status": session::session_status(&window),
    })))
}

fn status_filter(q: &Fields, allowed: &[&str]) -> Result<Option<String>, Error> {
    let Some(s) = q.opt_str("status")? else {
        return Ok(None);
    };
    let s = s.trim().to_ascii_lowercase();
    if allowed.contains(&s.as_str()) {
        Ok(Some(s))
    } else {
        Err(Error::field(
            "status",
            format!("status must be one of {}", allowed.join(", ")),
        ))
    }
}

pub async fn senders(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Error> {
    let q = Fields::from_query(query.as_deref());
    let filter = status_filter(&q, &["online", "offline"])?;
    let stops = st.store.stopped_senders().await?;
    let senders: Vec<Value> = st
        .config
        .senders
        .iter()
        .filter_map(|s| {
            let stop = stops.iter().find(|x| x.sender_id == s.id);
            let status = if stop.is_some() { "offline" } else { "online" };
            if filter.as_deref().is_some_and(|f| f != status) {
                return None;
            }
            Some(json!({
                "id": s.id,
                "name": s.name,
                "phone_number": s.phone_number.as_e164(),
                "channel": match s.channel {
                    ChannelKind::Meta => "meta",
                    ChannelKind::Twilio => "twilio",
                    ChannelKind::Sandbox => "sandbox",
                },
                "status": status,
                "offline_reason": stop.map(|x| x.reason.clone()),
                "offline_since": stop.map(|x| x.stopped_at.to_rfc3339()),
            }))
        })
        .collect();
    Ok(Json(json!({ "success": true, "senders": senders })))
}

pub async fn templates(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Error> {
    let q = Fields::from_query(query.as_deref());
    let filter = status_filter(
        &q,
        &[
            "approved", "pending", "rejected", "paused", "disabled", "flagged",
        ],
    )?;
    // What Meta last said about each template (status and category webhooks) wins over
    // what the config declares.
    let live = st.store.live_templates().await?;
    let now = st.clock.now();
    let templates: Vec<Value> = st
        .config
        .templates
        .iter()
        .filter_map(|t| {
            let meta = live
                .iter()
                .filter(|l| l.name == t.name && (l.language == t.language || l.language.is_empty()))
                .max_by_key(|l| !l.language.is_empty());
            let status = meta
                .and_then(|l| l.status.clone())
                .unwrap_or_else(|| t.status.as_str().to_string());
            if filter.as_deref().is_some_and(|f| f != status) {
                return None;
            }
            let category = meta.and_then(|l| l.category_at(now)).or(t.category);
            Some(json!({
                "id": t.id,
                "name": t.name,
                "language": t.language,
                "status": status,
                "declared_status": t.status.as_str(),
                "category": category.map(|c| c.as_str()),
                "meta": meta.map(|l| json!({
                    "status": l.status,
                    "reason": l.reason,
                    "category": l.category.map(|c| c.as_str()),
                    "impending_category": l.impending_category.map(|c| c.as_str()),
                    "impending_on": l.impending_on.map(|d| d.to_rfc3339()),
                    "updated_at": l.updated_at.to_rfc3339(),
                })),
                "body": t.body,
                "placeholders": t.placeholders(),
                "buttons": t.buttons,
                "warnings": crate::config::template_warning(t).into_iter().collect::<Vec<_>>(),
            }))
        })
        .collect();
    Ok(Json(json!({ "success": true, "templates": templates })))
}
