//! Webhook events Parley receives and drops on purpose (a message type, a change `field`, a
//! status value it does not act on): counted in `parley_webhook_events_dropped_total` by
//! provider, field and type, and logged at WARN the first time each kind is seen in this
//! process, then at DEBUG, so a new platform event is noticed without flooding the log.
//!
//! Field and type names come from the provider's (verified but still untrusted) body, so
//! they are bounded before they become metric labels or log keys: a name that is not a
//! short lowercase identifier, or one past the first `DISTINCT_MAX` kinds, is `other`.

use crate::metrics as m;
use std::collections::HashSet;
use std::sync::Mutex;

/// Distinct (provider, field, type) kinds remembered and labelled; later ones are `other`.
const DISTINCT_MAX: usize = 128;
/// Longest field or type name used as a label.
const NAME_MAX: usize = 48;

/// A kind of dropped event: provider, field, type.
type Kind = (&'static str, String, String);

static SEEN: Mutex<Option<HashSet<Kind>>> = Mutex::new(None);

/// Counts and logs one dropped event; `why` says in plain words why Parley drops it.
pub fn dropped(provider: &'static str, field: &str, kind: &str, why: &str) {
    let (field, kind, first) = remember(provider, field, kind);
    metrics::counter!(m::WEBHOOK_EVENTS_DROPPED, "provider" => provider, "field" => field.clone(), "type" => kind.clone())
        .increment(1);
    if first {
        tracing::warn!(provider, field, r#type = kind, why, "webhook event dropped (logged once per kind; counted in parley_webhook_events_dropped_total)");
    } else {
        tracing::debug!(provider, field, r#type = kind, why, "webhook event dropped");
    }
}

/// The bounded labels of a kind, and whether this process sees it for the first time.
fn remember(provider: &'static str, field: &str, kind: &str) -> (String, String, bool) {
    let mut field = label(field);
    let mut kind = label(kind);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let seen = seen.get_or_insert_with(HashSet::new);
    let key = (provider, field.clone(), kind.clone());
    if seen.contains(&key) {
        return (field, kind, false);
    }
    if seen.len() >= DISTINCT_MAX {
        field = "other".into();
        kind = "other".into();
        let other = (provider, field.clone(), kind.clone());
        let first = seen.len() < DISTINCT_MAX + 2 && seen.insert(other);
        return (field, kind, first);
    }
    seen.insert(key);
    (field, kind, true)
}

fn label(name: &str) -> String {
    let ok = !name.is_empty()
        && name.len() <= NAME_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        name.to_string()
    } else {
        "other".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_other() {
        assert_eq!(label("order"), "order");
        assert_eq!(label("Robert'); drop table"), "other");
        assert_eq!(label(&"a".repeat(NAME_MAX + 1)), "other");
        assert_eq!(label(""), "other");
    }

    #[test]
    fn each_kind_warns_once_and_the_set_stays_bounded() {
        let (_, _, first) = remember("meta", "messages", "kind_seen_in_this_test");
        assert!(first);
        let (_, _, again) = remember("meta", "messages", "kind_seen_in_this_test");
        assert!(!again);
        for i in 0..(DISTINCT_MAX * 3) {
            let (field, kind, _) = remember("meta", "flood", &format!("t{i}"));
            assert!(field == "flood" || field == "other");
            assert!(kind.starts_with('t') || kind == "other");
        }
        let len = SEEN.lock().unwrap().as_ref().unwrap().len();
        assert!(len <= DISTINCT_MAX + 2, "{len}");
    }
}
