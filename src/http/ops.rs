//! `/healthz` (the process answers), `/readyz` (database reachable, flows loaded) and
//! `/metrics` (Prometheus text).

use super::AppState;
use crate::metrics as m;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(st): State<AppState>) -> impl IntoResponse {
    let database = match st.store.ping().await {
        Ok(()) => Ok(st.store.backend()),
        Err(e) => {
            // The driver's text (hosts, users, files) goes to the log, not to the prober.
            tracing::warn!(error = %e, "readiness check: the database cannot be reached");
            Err("the database cannot be reached".to_string())
        }
    };
    let flows = st
        .flow_status
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let stopped = st.store.stopped_senders().await.unwrap_or_default();
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
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    if let Ok(depth) = st.store.outbox_depth().await {
        metrics::gauge!(m::OUTBOX_DEPTH).set(depth as f64);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        st.metrics.render(),
    )
}
