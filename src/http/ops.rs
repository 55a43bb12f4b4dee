//! `/healthz` (the process answers), `/readyz` (database reachable, flows loaded, and
//! `warnings` for what the deployment lacks without being broken: no flows, no senders, no
//! API keys) and `/metrics` (Prometheus text).

use super::state::AppState;
use crate::metrics as m;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

/// How long `/readyz` waits for the database.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(st): State<AppState>) -> impl IntoResponse {
    // An unreachable database must turn readiness red at once, not after a pool's
    // connect timeout; the driver's words go to the log, not to whoever asks.
    let database = match tokio::time::timeout(PING_TIMEOUT, st.store.ping()).await {
        Ok(Ok(())) => Ok(st.store.backend()),
        Ok(Err(e)) => {
            crate::metrics::logs::log_every!(warn, error = %e, "readiness: the database check failed");
            Err("the database check failed (see the log)".to_string())
        }
        Err(_) => Err(format!(
            "the database did not answer within {PING_TIMEOUT:?}"
        )),
    };
    // A database that answers reads may still refuse writes (a full disk): the last
    // webhooks it could not store say so until one is stored again.
    let database = database.and_then(|backend| {
        match st.ingestor.write_health().failing_since() {
            None => Ok(backend),
            Some(since) => Err(format!(
                "the database has refused to store webhooks since {} (a full disk, a read-only file?); see the log",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
        }
    });
    let stopped = if database.is_ok() {
        st.store.stopped_senders().await.unwrap_or_default()
    } else {
        Vec::new()
    };
    let flows = st
        .flow_status
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    // Templates Meta paused, disabled or rejected, or is about to move to another category.
    let templates: Vec<serde_json::Value> = if database.is_ok() {
        tokio::time::timeout(PING_TIMEOUT, st.store.live_templates())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.unsendable_reason().is_some() || l.impending_category.is_some())
            .map(|l| {
                json!({
                    "name": l.name,
                    "language": l.language,
                    "status": l.status,
                    "reason": l.reason,
                    "category": l.category.map(|c| c.as_str()),
                    "impending_category": l.impending_category.map(|c| c.as_str()),
                    "impending_on": l.impending_on.map(|d| d.to_rfc3339()),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let ready = database.is_ok();
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "database": match &database { Ok(b) => json!({"ok": true, "backend": b}), Err(e) => json!({"ok": false, "error": e}) },
        "flows": {
            "loaded": st.engine.flows().len(),
            "stale": flows.stale,
            "loaded_at": flows.loaded_at,
            "problems": flows.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        },
        "stopped_senders": stopped,
        "routing": routing(&st, database.is_ok()).await,
        "templates_needing_attention": templates,
        "warnings": st.config.warnings(st.engine.flows().len()),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// Conversation routing, per Meta sender with `meta.routing`: the number's roles as last
/// read (at start, by the health check) and its conversations' threads per owner.
async fn routing(st: &AppState, database_ok: bool) -> serde_json::Value {
    let counts = if database_ok {
        tokio::time::timeout(PING_TIMEOUT, st.store.thread_counts())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for sender in st.senders.all() {
        let Some(routing) = sender.config.meta.as_ref().and_then(|m| m.routing.as_ref()) else {
            continue;
        };
        let id = sender.config.id;
        let threads: serde_json::Map<String, serde_json::Value> = counts
            .iter()
            .filter(|c| c.sender_id == id)
            .map(|c| (c.owner.clone(), c.count.into()))
            .collect();
        let status = sender.routing_status();
        out.push(json!({
            "sender_id": id,
            "escalation_app": routing.escalation_app,
            "take_back": routing.take_back,
            "roles": status.as_ref().and_then(|s| s.roles.as_ref().ok()).map(|r| &r.roles),
            "is_standby": status.as_ref().and_then(|s| s.roles.as_ref().ok()).map(|r| r.is_standby),
            "may_take": status.as_ref().and_then(|s| s.roles.as_ref().ok()).map(|r| r.may_take()),
            "error": status.as_ref().and_then(|s| s.roles.as_ref().err()),
            "read_at": status.as_ref().map(|s| s.read_at.to_rfc3339()),
            "threads": threads,
        }));
    }
    serde_json::Value::Array(out)
}

pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    if let Ok(Ok(depth)) = tokio::time::timeout(PING_TIMEOUT, st.store.outbox_depth()).await {
        metrics::gauge!(m::OUTBOX_DEPTH).set(depth as f64);
    }
    let today = chrono::Utc::now().date_naive();
    for sender in &st.config.senders {
        // NaN while Meta has announced no date for the version (or the URL names none).
        if let Some(meta) = &sender.meta {
            let days = crate::domain::graph_versions::days_left(&meta.api_base, today);
            metrics::gauge!(m::GRAPH_API_DAYS_LEFT, "sender" => sender.id.to_string())
                .set(days.map_or(f64::NAN, |d| d as f64));
        }
    }
    if let Ok(Ok(queued)) = tokio::time::timeout(PING_TIMEOUT, st.store.downloads_queued()).await {
        metrics::gauge!(m::MEDIA_QUEUED).set(queued as f64);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        st.metrics.render(),
    )
}
