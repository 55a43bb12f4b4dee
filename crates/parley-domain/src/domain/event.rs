//! What a conversation's worker handles: a customer message or a due timer.

use super::tagged::{self, TagFirst};
use super::{Id, InboundMessage, Timer};
use chrono::{DateTime, Utc};
use serde::de::{self, value::MapAccessDeserializer, MapAccess};
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: Id,
    pub conversation_id: Id,
    pub kind: EventKind,
    pub received_at: DateTime<Utc>,
}

/// Written with its tag first (`{"event": "message", ...}`), and read without buffering
/// when the tag comes first (`tagged.rs`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // loaded a few at a time per conversation
pub enum EventKind {
    /// The customer wrote.
    Message(InboundMessage),
    /// A timer set by an earlier step is due, or a system event (a scheduled run, a
    /// handoff release) stored like one.
    Timer(TimerFire),
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        tagged::deserialize(d)
    }
}

impl TagFirst for EventKind {
    const TAG: &'static str = "event";
    const WHAT: &'static str = "a conversation event";

    fn variant<'de, A: MapAccess<'de>>(tag: &str, rest: A) -> Result<Self, A::Error> {
        let rest = MapAccessDeserializer::new(rest);
        match tag {
            "message" => InboundMessage::deserialize(rest).map(Self::Message),
            "timer" => TimerFire::deserialize(rest).map(Self::Timer),
            other => Err(de::Error::unknown_variant(other, &["message", "timer"])),
        }
    }
}

/// A due timer. Stored in the event's JSON with the timer's row form (`purpose`,
/// `payload`), as the `timers` table holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "TimerFireRow", into = "TimerFireRow")]
pub struct TimerFire {
    pub timer_id: Id,
    pub timer: Timer,
    pub due_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct TimerFireRow {
    timer_id: Id,
    purpose: String,
    payload: serde_json::Value,
    due_at: DateTime<Utc>,
}

impl From<TimerFireRow> for TimerFire {
    fn from(r: TimerFireRow) -> Self {
        TimerFire {
            timer_id: r.timer_id,
            timer: Timer::from_row(&r.purpose, &r.payload),
            due_at: r.due_at,
        }
    }
}

impl From<TimerFire> for TimerFireRow {
    fn from(f: TimerFire) -> Self {
        let (purpose, payload) = f.timer.to_row();
        TimerFireRow {
            timer_id: f.timer_id,
            purpose,
            payload,
            due_at: f.due_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ContactRef, InboundContent, PhoneNumber, Timer};
    use serde_json::{json, Value};

    fn events() -> Vec<EventKind> {
        let at: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
        vec![
            EventKind::Message(InboundMessage {
                provider_message_id: "wamid.1".into(),
                from: ContactRef::Phone(PhoneNumber::parse("+14155550100").unwrap()),
                profile_name: Some("Ana".into()),
                username: None,
                timestamp: Some(at),
                content: InboundContent::Text {
                    body: "where is my order \"42\"?".into(),
                },
                context: None,
                referral: None,
            }),
            EventKind::Timer(TimerFire {
                timer_id: 7,
                timer: Timer::Delay { run: 3, step: 2 },
                due_at: at,
            }),
        ]
    }

    /// Written with the tag first and read back without buffering; the same object with its
    /// tag elsewhere (as PostgreSQL's `jsonb` orders keys, or a hand-written row) reads the
    /// same, the slow way.
    #[test]
    fn events_read_back_whatever_their_tags_place() {
        for event in events() {
            let text = serde_json::to_string(&event).unwrap();
            assert!(text.starts_with(r#"{"event":"#), "{text}");
            assert_eq!(serde_json::from_str::<EventKind>(&text).unwrap(), event);

            // The tag last, written by hand.
            let Value::Object(map) = serde_json::to_value(&event).unwrap() else {
                panic!("an event is an object")
            };
            let tag = map["event"].clone();
            let mut rest: Vec<String> = map
                .iter()
                .filter(|(k, _)| k.as_str() != "event")
                .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
                .collect();
            rest.push(format!(r#""event":{tag}"#));
            let last = format!("{{{}}}", rest.join(","));
            assert_eq!(serde_json::from_str::<EventKind>(&last).unwrap(), event);
            // From a JSON value (its keys sorted).
            assert_eq!(
                serde_json::from_value::<EventKind>(Value::Object(map)).unwrap(),
                event
            );
        }
    }

    /// A missing or unknown tag, or a variant's missing field, is an error that says so,
    /// whichever way the object is read.
    #[test]
    fn a_bad_event_says_what_is_wrong() {
        let err = |v: Value| serde_json::from_str::<EventKind>(&v.to_string()).unwrap_err();
        let e = err(json!({"timer_id": 1}));
        assert!(e.to_string().contains("missing field `event`"), "{e}");
        let e = err(json!({"event": "poke", "x": 1}));
        assert!(e.to_string().contains("unknown variant `poke`"), "{e}");
        // `json!` sorts its keys: written by hand to put the tag last.
        let last = |text: &str| serde_json::from_str::<EventKind>(text).unwrap_err();
        let e = last(r#"{"x": 1, "event": "poke"}"#);
        assert!(e.to_string().contains("unknown variant `poke`"), "{e}");
        let e = last(r#"{"x": 1, "event": 5}"#);
        assert!(e.to_string().contains("a string naming the variant"), "{e}");
        let e = err(json!({"event": 5}));
        assert!(e.to_string().contains("expected a string"), "{e}");
        let e = err(json!({"event": "timer", "purpose": "delay"}));
        assert!(e.to_string().contains("missing field"), "{e}");
        let e = serde_json::from_str::<EventKind>("[1]").unwrap_err();
        assert!(e.to_string().contains("a conversation event"), "{e}");
    }
}
