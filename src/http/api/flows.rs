//! `GET /api/flows`: the flows running now (id, file, description, priority, triggers in
//! the words an author wrote them, schedule) and the problems the last load found, from
//! `AppState::flow_status` (`stale: true` means the files on disk have errors and an
//! earlier version keeps running). A flow with a candidate version (issue 58) lists it:
//! `candidate: { label, file, share }` (the share as this process knows it); a flow without
//! one has no `candidate` key.

use crate::http::error::Error;
use crate::http::state::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

pub async fn list(State(st): State<AppState>) -> Result<Json<Value>, Error> {
    let set = st.engine.flows();
    let flows: Vec<Value> = set
        .flows()
        .iter()
        .map(|f| {
            let mut flow = json!({
                "id": f.id,
                "file": f.file,
                "description": f.description,
                "priority": f.priority,
                "steps": f.written_steps(),
                "triggers": f.triggers.iter().map(|t| json!({
                    "summary": crate::flows::triggers::explain::describe(t),
                    "interrupt": t.interrupt,
                    "line": t.at.line,
                })).collect::<Vec<_>>(),
                "schedule": f.schedule.as_ref().map(|s| json!({
                    "cron": s.cron_text,
                    "timezone": s.timezone.name(),
                    "sender": s.sender,
                })),
            });
            // Only a flow with a candidate version says so.
            if let Some(c) = set.candidate(&f.id) {
                let label = c.candidate.as_deref().unwrap_or_default();
                flow["candidate"] = json!({
                    "label": label,
                    "file": c.file,
                    "share": st.engine.library().rollout_share(&f.id, label),
                });
            }
            flow
        })
        .collect();
    let status = st
        .flow_status
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(Json(json!({
        "success": true,
        "loaded_at": status.loaded_at.map(|t| t.to_rfc3339()),
        "stale": status.stale,
        "flows": flows,
        "problems": status.problems,
    })))
}
