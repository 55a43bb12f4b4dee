//! Rollouts (issue 58): every 2 seconds, the shares of the flows' candidate versions are read
//! from the database (`flow_rollouts`) into the engine's library, so a `parley rollout` or
//! an API call made in another process takes effect here too. The process that makes the
//! change sets it in its library at once (`http::api::rollouts`).

use crate::engine::FlowEngine;
use crate::store::DynStore;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the shares are read again.
pub const REFRESH: Duration = Duration::from_secs(2);

/// Reads the shares into the engine's library once; a failure is logged and the shares
/// already known stay.
pub async fn load(store: &DynStore, engine: &FlowEngine) {
    match store.rollouts().await {
        Ok(rows) => engine
            .library()
            .set_rollouts(rows.into_iter().map(|r| (r.flow, r.candidate, r.share))),
        Err(e) => tracing::warn!("reading the flows' rollouts failed: {e}"),
    }
}

/// Reads the shares every `REFRESH` until `shutdown`.
pub async fn run(store: DynStore, engine: Arc<FlowEngine>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(REFRESH) => {}
            _ = shutdown.cancelled() => return,
        }
        load(&store, &engine).await;
    }
}

/// A change of a flow's rollout (`PUT /api/flows/{flow}/rollout`, `parley rollout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Serve the candidate to this percent of new conversations (0 to 100).
    Share(u8),
    /// Serve the candidate to every new conversation, and mark it promoted.
    Promote,
    /// Serve it to no one.
    Rollback,
}

impl Change {
    /// The share and the promoted mark the change sets.
    pub fn share_and_promoted(self) -> (u8, bool) {
        match self {
            Change::Share(n) => (n.min(100), false),
            Change::Promote => (100, true),
            Change::Rollback => (0, false),
        }
    }

    /// The change a request body asks for: `{"share": 10}`, `{"promote": true}` or
    /// `{"rollback": true}`; otherwise what is wrong, in words.
    pub fn from_body(body: &[u8]) -> Result<Self, String> {
        const USAGE: &str =
            "send one of {\"share\": 10} (0 to 100), {\"promote\": true} or {\"rollback\": true}";
        if body.len() > 1024 {
            return Err(format!("the body is {} bytes; {USAGE}", body.len()));
        }
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| format!("the body is not JSON ({e}); {USAGE}"))?;
        let Some(map) = value.as_object().filter(|m| m.len() == 1) else {
            return Err(format!("the body must hold exactly one setting; {USAGE}"));
        };
        let (key, v) = map.iter().next().ok_or_else(|| USAGE.to_string())?;
        match (key.as_str(), v) {
            ("share", v) => match v.as_u64() {
                Some(n) if n <= 100 => Ok(Change::Share(n as u8)),
                _ => Err(format!(
                    "`share` must be a whole number from 0 to 100, found {v}"
                )),
            },
            ("promote", serde_json::Value::Bool(true)) => Ok(Change::Promote),
            ("rollback", serde_json::Value::Bool(true)) => Ok(Change::Rollback),
            ("promote" | "rollback", v) => Err(format!("`{key}` must be true, found {v}")),
            (other, _) => Err(format!("unknown setting `{other}`; {USAGE}")),
        }
    }
}

/// Why a flow's rollout cannot be shown or changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRollout {
    UnknownFlow(String),
    NoCandidate(String),
}

impl std::fmt::Display for NoRollout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoRollout::UnknownFlow(id) => write!(f, "there is no flow `{id}`"),
            NoRollout::NoCandidate(id) => write!(
                f,
                "flow `{id}` has no candidate version: add a second file with `id: {id}` and `candidate: v2` at its top"
            ),
        }
    }
}

/// A flow's rollout as the API and `parley rollout` show it.
pub async fn state(
    store: &DynStore,
    flows: &crate::flows::FlowSet,
    flow: &str,
) -> crate::store::StoreResult<Result<serde_json::Value, NoRollout>> {
    let Some(current) = flows.get(flow) else {
        return Ok(Err(NoRollout::UnknownFlow(flow.to_string())));
    };
    let Some(candidate) = flows.candidate(flow) else {
        return Ok(Err(NoRollout::NoCandidate(flow.to_string())));
    };
    let label = candidate.candidate.clone().unwrap_or_default();
    let row = store
        .rollouts()
        .await?
        .into_iter()
        .find(|r| r.flow == flow && r.candidate == label);
    Ok(Ok(serde_json::json!({
        "flow": flow,
        "candidate": label,
        "share": row.as_ref().map_or(0, |r| r.share),
        "promoted": row.as_ref().is_some_and(|r| r.promoted),
        "updated_at": row.as_ref().map(|r| r.updated_at.to_rfc3339()),
        "versions": {
            "current": format!("{:016x}", current.version),
            "candidate": format!("{:016x}", candidate.version),
        },
        "files": { "current": current.file, "candidate": candidate.file },
    })))
}

/// Applies `change` to `flow`'s rollout in the store; the candidate's label and the share
/// now (for the caller's library), or why there is no rollout to change.
pub async fn apply(
    store: &DynStore,
    flows: &crate::flows::FlowSet,
    flow: &str,
    change: Change,
    now: chrono::DateTime<chrono::Utc>,
) -> crate::store::StoreResult<Result<(String, u8), NoRollout>> {
    if flows.get(flow).is_none() {
        return Ok(Err(NoRollout::UnknownFlow(flow.to_string())));
    }
    let Some(candidate) = flows.candidate(flow) else {
        return Ok(Err(NoRollout::NoCandidate(flow.to_string())));
    };
    let label = candidate.candidate.clone().unwrap_or_default();
    let (share, promoted) = change.share_and_promoted();
    store
        .set_rollout(flow, &label, share, promoted, now)
        .await?;
    Ok(Ok((label, share)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_read_strictly() {
        assert_eq!(
            Change::from_body(br#"{"share": 10}"#),
            Ok(Change::Share(10))
        );
        assert_eq!(
            Change::from_body(br#"{"promote": true}"#),
            Ok(Change::Promote)
        );
        assert_eq!(
            Change::from_body(br#"{"rollback": true}"#),
            Ok(Change::Rollback)
        );
        for bad in [
            &br#"{"share": 101}"#[..],
            br#"{"share": -1}"#,
            br#"{"share": 2.5}"#,
            br#"{"share": "10"}"#,
            br#"{"promote": false}"#,
            br#"{"share": 10, "promote": true}"#,
            br#"{}"#,
            br#"[]"#,
            br#"{"shares": 10}"#,
            b"not json",
        ] {
            assert!(
                Change::from_body(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(Change::from_body(&vec![b' '; 2000]).is_err());
    }
}
