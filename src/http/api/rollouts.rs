//! `GET /api/flows/{flow}/rollout` and `PUT /api/flows/{flow}/rollout` (issue 58): the
//! share of new conversations a flow's candidate version is served; raise it, promote the
//! candidate or roll it back, without a restart. The change is stored (every process reads
//! it within `workers::rollouts::REFRESH`) and takes effect in this process at once.
//!
//! Both answer the rollout's state: `flow`, `candidate` (its label), `share`, `promoted`,
//! `updated_at`, `versions` (the current and candidate versions' hashes) and `files`.
//! 404 for an unknown flow or a flow without a candidate; 422 for a body that is not one
//! of `{"share": N}` (0 to 100), `{"promote": true}`, `{"rollback": true}`.

use crate::http::error::Error;
use crate::http::state::AppState;
use crate::workers::rollouts::{self, Change, NoRollout};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

pub async fn show(
    State(st): State<AppState>,
    Path(flow): Path<String>,
) -> Result<Json<Value>, Error> {
    let flows = st.engine.flows();
    let state = rollouts::state(&st.store, &flows, &flow)
        .await?
        .map_err(not_found)?;
    Ok(Json(answer(state)))
}

pub async fn update(
    State(st): State<AppState>,
    Path(flow): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Error> {
    let flows = st.engine.flows();
    // The flow first: a change to a flow that is not there is a 404 whatever the body.
    if let Err(why) = rollouts::state(&st.store, &flows, &flow).await? {
        return Err(not_found(why));
    }
    let change = Change::from_body(&body).map_err(|e| {
        let field = ["share", "promote", "rollback"]
            .into_iter()
            .find(|f| e.contains(&format!("`{f}`")))
            .unwrap_or("body");
        Error::field(field, e)
    })?;
    let (label, share) = rollouts::apply(&st.store, &flows, &flow, change, st.clock.now())
        .await?
        .map_err(not_found)?;
    st.engine.library().set_rollout(&flow, &label, share);
    tracing::info!(flow = %flow, candidate = %label, share, "rollout changed");
    let state = rollouts::state(&st.store, &flows, &flow)
        .await?
        .map_err(not_found)?;
    Ok(Json(answer(state)))
}

fn not_found(why: NoRollout) -> Error {
    Error::not_found(why.to_string())
}

fn answer(mut state: Value) -> Value {
    if let Some(m) = state.as_object_mut() {
        m.insert("success".into(), Value::Bool(true));
    }
    state
}
