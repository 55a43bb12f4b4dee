//! Events out (issue 57): what Parley tells the systems next door (CRMs, data pipelines, a
//! Chatwoot inbox) about, as Standard Webhooks. Each event is written to the `events_out`
//! table in the same transaction as the change it tells of (so nothing is lost across a
//! crash), and delivered from there to each endpoint by `workers::events_out`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kinds of event, as named on the wire (`"type"` of the payload) and in
/// `events.endpoints[].events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OutEventKind {
    #[serde(rename = "message.received")]
    MessageReceived,
    /// A reply or any other message Parley sent was accepted by the provider.
    #[serde(rename = "message.sent")]
    MessageSent,
    /// A delivery status of a sent message changed (delivered, read, failed).
    #[serde(rename = "message.status")]
    MessageStatus,
    #[serde(rename = "flow.started")]
    FlowStarted,
    #[serde(rename = "flow.finished")]
    FlowFinished,
    #[serde(rename = "flow.dropped")]
    FlowDropped,
    #[serde(rename = "handoff.began")]
    HandoffBegan,
    #[serde(rename = "handoff.ended")]
    HandoffEnded,
    #[serde(rename = "contact.created")]
    ContactCreated,
    #[serde(rename = "contact.changed")]
    ContactChanged,
    #[serde(rename = "contact.opted_out")]
    ContactOptedOut,
    #[serde(rename = "broadcast.progress")]
    BroadcastProgress,
    #[serde(rename = "broadcast.finished")]
    BroadcastFinished,
    /// Meta's conversation routing moved the thread's ownership (to or from Parley, to
    /// another app, idle).
    #[serde(rename = "thread.owner_changed")]
    ThreadOwnerChanged,
}

impl OutEventKind {
    pub const ALL: &'static [OutEventKind] = &[
        Self::MessageReceived,
        Self::MessageSent,
        Self::MessageStatus,
        Self::FlowStarted,
        Self::FlowFinished,
        Self::FlowDropped,
        Self::HandoffBegan,
        Self::HandoffEnded,
        Self::ContactCreated,
        Self::ContactChanged,
        Self::ContactOptedOut,
        Self::BroadcastProgress,
        Self::BroadcastFinished,
        Self::ThreadOwnerChanged,
    ];

    /// The wire name (`message.received`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageReceived => "message.received",
            Self::MessageSent => "message.sent",
            Self::MessageStatus => "message.status",
            Self::FlowStarted => "flow.started",
            Self::FlowFinished => "flow.finished",
            Self::FlowDropped => "flow.dropped",
            Self::HandoffBegan => "handoff.began",
            Self::HandoffEnded => "handoff.ended",
            Self::ContactCreated => "contact.created",
            Self::ContactChanged => "contact.changed",
            Self::ContactOptedOut => "contact.opted_out",
            Self::BroadcastProgress => "broadcast.progress",
            Self::BroadcastFinished => "broadcast.finished",
            Self::ThreadOwnerChanged => "thread.owner_changed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

/// An event to record, in the transaction of the change it tells of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOutEvent {
    pub kind: OutEventKind,
    pub at: DateTime<Utc>,
    /// The conversation it belongs to: events of one conversation are delivered in order.
    /// `None` for events of no conversation (a broadcast's progress, a contact import).
    pub conversation_id: Option<super::Id>,
    /// The sender (number) it concerns, for endpoints limited to some senders.
    pub sender_id: Option<i64>,
    /// The payload's `data` object.
    pub data: Value,
}

/// An event as stored: its id is the stable `webhook-id` (`evt_<id>`) of every delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutEvent {
    pub id: super::Id,
    pub kind: OutEventKind,
    pub at: DateTime<Utc>,
    pub conversation_id: Option<super::Id>,
    pub sender_id: Option<i64>,
    pub data: Value,
}

impl OutEvent {
    /// The `webhook-id` of every delivery of this event (the same on each retry).
    pub fn webhook_id(&self) -> String {
        format!("evt_{}", self.id)
    }

    /// The body sent to webhook endpoints:
    /// `{"type": "message.received", "timestamp": "…", "data": {…}}`.
    pub fn payload(&self) -> Value {
        serde_json::json!({
            "type": self.kind.as_str(),
            "timestamp": self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "data": self.data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_by_its_wire_name() {
        for k in OutEventKind::ALL {
            assert_eq!(OutEventKind::parse(k.as_str()), Some(*k));
            let json = serde_json::to_value(k).unwrap();
            assert_eq!(json, Value::String(k.as_str().into()));
        }
        assert_eq!(OutEventKind::parse("message.nope"), None);
    }
}
