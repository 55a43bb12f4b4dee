//! Who a contact is when a customer has two identities (a phone number and a
//! business-scoped user id), and the rules for joining two contacts that turn out to be the
//! same person: pure decisions the stores apply inside one transaction.
//!
//! A contact is never duplicated on purpose: when a webhook names a phone and a BSUID that
//! are stored on two different contacts, the two are merged. The rule is deterministic:
//! the older contact (the lower id) survives; it gains the other's tags, the attributes it
//! lacks and, if it has none, its name. Per sender, the conversation that heard from the
//! customer last keeps its flow state (a run waiting in an `ask`, a handoff); its window is
//! the later of the two; every message, send and timer of the other moves to it.

use super::{ContactRef, Conversation, ConversationState, PhoneNumber};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A provider's word that a customer's identity changed: their number
/// (`system.type: user_changed_number`, `customer_changed_number`) or their business-scoped
/// user id (`user_id_update`). The contact known as `previous` becomes known as `current`,
/// with everything it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityChange {
    pub previous: ContactRef,
    pub current: ContactRef,
    pub kind: IdentityChangeKind,
    pub timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityChangeKind {
    /// A new phone number (and, per Meta, a new BSUID with it).
    ChangedNumber,
    /// A new business-scoped user id.
    ChangedUserId,
}

impl IdentityChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityChangeKind::ChangedNumber => "changed_number",
            IdentityChangeKind::ChangedUserId => "changed_user_id",
        }
    }
}

/// The identities a contact row holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identities {
    pub phone: Option<String>,
    pub bsuid: Option<String>,
}

impl Identities {
    pub fn of(contact: &ContactRef) -> Self {
        Self {
            phone: contact.phone().map(|p| p.as_e164().to_string()),
            bsuid: contact.user_id().map(str::to_string),
        }
    }

    /// These identities with `newer`'s given ones replacing them.
    pub fn updated_by(&self, newer: &Identities) -> Identities {
        Identities {
            phone: newer.phone.clone().or_else(|| self.phone.clone()),
            bsuid: newer.bsuid.clone().or_else(|| self.bsuid.clone()),
        }
    }

    /// The contact key: the phone when known, else `bsuid:<id>`; `None` with neither.
    pub fn key(&self) -> Option<String> {
        let phone = self
            .phone
            .as_deref()
            .and_then(|p| PhoneNumber::parse(p).ok());
        ContactRef::from_parts(phone, self.bsuid.clone()).map(|c| c.key())
    }
}

/// Of two contacts found for one person, which survives: the older (lower id).
pub fn surviving_contact(a: i64, b: i64) -> (i64, i64) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// The surviving contact's name, attributes and tags after absorbing `loser`'s.
pub fn merged_profile(
    survivor: (&Option<String>, &Map<String, Value>, &[String]),
    loser: (&Option<String>, &Map<String, Value>, &[String]),
) -> (Option<String>, Map<String, Value>, Vec<String>) {
    let name = survivor.0.clone().or_else(|| loser.0.clone());
    let mut attributes = survivor.1.clone();
    for (k, v) in loser.1 {
        attributes.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let mut tags = survivor.2.to_vec();
    for tag in loser.2 {
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    (name, attributes, tags)
}

/// Two conversations of one sender with the same person, joined.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedConversation {
    pub state: ConversationState,
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// The state came from the other conversation: its timers are the ones that count
    /// (they move); otherwise the other's timers belong to a dropped state and go.
    pub state_from_other: bool,
}

/// The state of the conversation that heard from the customer last (a state with no run
/// and no handoff never replaces one that has either), run counters that never hand out
/// a run id twice, and the later window.
pub fn merged_conversation(keep: &Conversation, other: &Conversation) -> MergedConversation {
    let busy = |s: &ConversationState| s.run.is_some() || s.handoff.is_some();
    let other_is_later = other.last_inbound_at > keep.last_inbound_at;
    let state_from_other = match (busy(&keep.state), busy(&other.state)) {
        (true, true) | (false, false) => other_is_later,
        (false, true) => true,
        (true, false) => false,
    };
    let mut state = if state_from_other {
        other.state.clone()
    } else {
        keep.state.clone()
    };
    state.runs_started = keep.state.runs_started.max(other.state.runs_started);
    state.messages_seen = keep.state.messages_seen + other.state.messages_seen;
    MergedConversation {
        state,
        last_inbound_at: keep.last_inbound_at.max(other.last_inbound_at),
        state_from_other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conversation(id: i64, last: Option<i64>, state: ConversationState) -> Conversation {
        Conversation {
            id,
            sender_id: 1,
            contact_id: id,
            last_inbound_at: last.and_then(|s| DateTime::from_timestamp(s, 0)),
            state,
            created_at: DateTime::from_timestamp(0, 0).unwrap(),
        }
    }

    fn busy(flow: &str) -> ConversationState {
        serde_json::from_value(json!({
            "run": {"id": 1, "flow": flow, "version": 1, "step": 0,
                    "started_at": "2026-01-01T00:00:00Z"},
            "runs_started": 1
        }))
        .unwrap()
    }

    #[test]
    fn the_older_contact_survives_and_keeps_what_it_has() {
        assert_eq!(surviving_contact(9, 4), (4, 9));
        assert_eq!(surviving_contact(4, 9), (4, 9));
        let a = json!({"city": "Lima"}).as_object().cloned().unwrap();
        let b = json!({"city": "Quito", "plan": "gold"})
            .as_object()
            .cloned()
            .unwrap();
        let (name, attributes, tags) = merged_profile(
            (&None, &a, &["vip".to_string()]),
            (
                &Some("Ana".into()),
                &b,
                &["vip".to_string(), "lead".to_string()],
            ),
        );
        assert_eq!(name.as_deref(), Some("Ana"));
        assert_eq!(
            Value::Object(attributes),
            json!({"city": "Lima", "plan": "gold"})
        );
        assert_eq!(tags, vec!["vip".to_string(), "lead".to_string()]);
    }

    #[test]
    fn the_conversation_heard_from_last_keeps_its_flow_and_the_later_window() {
        let keep = conversation(1, Some(100), ConversationState::default());
        let other = conversation(2, Some(200), busy("b"));
        let merged = merged_conversation(&keep, &other);
        assert_eq!(merged.state.run.map(|r| r.flow).as_deref(), Some("b"));
        assert!(merged.state_from_other);
        assert_eq!(merged.last_inbound_at, DateTime::from_timestamp(200, 0));

        // An idle later conversation does not wipe a flow in progress.
        let keep = conversation(1, Some(100), busy("a"));
        let other = conversation(2, Some(200), ConversationState::default());
        let merged = merged_conversation(&keep, &other);
        assert_eq!(merged.state.run.map(|r| r.flow).as_deref(), Some("a"));
        assert!(!merged.state_from_other);

        // Both busy: the later one wins; run ids are never handed out twice.
        let keep = conversation(1, Some(300), busy("a"));
        let mut other_state = busy("b");
        other_state.runs_started = 7;
        let other = conversation(2, Some(200), other_state);
        let merged = merged_conversation(&keep, &other);
        assert_eq!(merged.state.run.map(|r| r.flow).as_deref(), Some("a"));
        assert_eq!(merged.state.runs_started, 7);
    }

    #[test]
    fn identities_take_the_newer_values_and_key_by_phone() {
        let stored = Identities {
            phone: Some("+16315551181".into()),
            bsuid: Some("US.1".into()),
        };
        let newer = Identities {
            phone: None,
            bsuid: Some("US.2".into()),
        };
        let updated = stored.updated_by(&newer);
        assert_eq!(updated.bsuid.as_deref(), Some("US.2"));
        assert_eq!(updated.key().as_deref(), Some("+16315551181"));
        assert_eq!(newer.key().as_deref(), Some("bsuid:US.2"));
        assert_eq!(Identities::default().key(), None);
    }
}
