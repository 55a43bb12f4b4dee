//! A broadcast and its progress as JSON, for the API and the CLI alike: every figure is
//! counted from the recipients table joined to their latest sends, never from memory.

use crate::store::{Broadcast, RecipientCount};
use serde_json::{json, Map, Value};

/// The broadcast's settings and state.
pub fn describe(b: &Broadcast) -> Value {
    json!({
        "id": b.id,
        "name": b.name,
        "state": b.state.as_str(),
        "sender_id": b.sender_id,
        "template": { "name": b.template_name, "language": b.template_language, "category": b.category },
        "variables": b.variables,
        "audience": b.audience,
        "reply_flow": b.reply_flow,
        "portfolio": b.portfolio,
        "messaging_limit": b.messaging_limit,
        "start_at": b.start_at.to_rfc3339(),
        "recipients_read": b.prepared,
        "waiting_until": b.wait_until.map(|t| t.to_rfc3339()),
        "waiting_because": b.wait_reason,
        "created_at": b.created_at.to_rfc3339(),
        "updated_at": b.updated_at.to_rfc3339(),
    })
}

/// Recipients by where they are: `pending` (not queued yet), `queued` (in the outbox),
/// `accepted`, `sent`, `delivered`, `read` (the latest status of their send), `deferred`
/// (held back by WhatsApp's per-user marketing limit, a copy waiting for its day),
/// `failed` by error code, and `skipped` by reason.
pub fn progress(b: &Broadcast, counts: &[RecipientCount]) -> Value {
    let mut total = 0i64;
    let mut plain: Map<String, Value> = [
        "pending",
        "queued",
        "accepted",
        "sent",
        "delivered",
        "read",
        "deferred",
    ]
    .iter()
    .map(|k| (k.to_string(), json!(0)))
    .collect();
    let mut failed: Map<String, Value> = Map::new();
    let mut skipped: Map<String, Value> = Map::new();
    let add = |map: &mut Map<String, Value>, key: &str, n: i64| {
        let v = map.entry(key.to_string()).or_insert(json!(0));
        *v = json!(v.as_i64().unwrap_or(0) + n);
    };
    for c in counts {
        total += c.count;
        match (c.state.as_str(), c.status.as_deref()) {
            ("skipped", _) => add(
                &mut skipped,
                c.reason.as_deref().unwrap_or("unknown"),
                c.count,
            ),
            // A cancelled broadcast will never queue them: they count as cancelled.
            ("pending", _) | (_, None)
                if b.state == crate::domain::broadcast::BroadcastState::Cancelled =>
            {
                add(&mut skipped, "cancelled", c.count)
            }
            ("pending", _) | (_, None) => add(&mut plain, "pending", c.count),
            (_, Some("failed")) if c.deferred => add(&mut plain, "deferred", c.count),
            (_, Some("failed")) => add(
                &mut failed,
                &c.error_code.map_or("none".to_string(), |e| e.to_string()),
                c.count,
            ),
            (_, Some("skipped")) => add(
                &mut skipped,
                match &c.skip_reason {
                    Some(reason) => reason,
                    None if b.state == crate::domain::broadcast::BroadcastState::Cancelled => {
                        "cancelled"
                    }
                    None => "marketing_stopped",
                },
                c.count,
            ),
            (_, Some(status)) => add(&mut plain, status, c.count),
        }
    }
    let mut out = Map::new();
    out.insert("recipients".into(), json!(total));
    out.extend(plain);
    out.insert("failed".into(), Value::Object(failed));
    out.insert("skipped".into(), Value::Object(skipped));
    Value::Object(out)
}
