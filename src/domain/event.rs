//! What a conversation's worker handles: a customer message or a due timer.

use super::{Id, InboundMessage, Timer};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: Id,
    pub conversation_id: Id,
    pub kind: EventKind,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // loaded a few at a time per conversation
pub enum EventKind {
    /// The customer wrote.
    Message(InboundMessage),
    /// A timer set by an earlier step is due, or a system event (a scheduled run, a
    /// handoff release) stored like one.
    Timer(TimerFire),
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
