//! The traces of the latest sandbox events, in memory: a ring of the last
//! `TRACE_LOG_LIMIT` events keyed by event id, filled by the engine wrapper the inbox runs.
//! Each trace is fitted into `trace::ENTRY_MAX` bytes as it is kept, so the ring holds at
//! most `TRACE_LOG_LIMIT × ENTRY_MAX` whatever a model or a customer writes.

use crate::domain::{EventKind, Handoff, Timer};
use crate::engine::trace::{Trace, ENTRY_MAX};
use crate::engine::{Engine, FlowEngine, StepInput, StepOutput};
use crate::store::Id;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

/// How many events' traces are kept; older ones are dropped first.
pub const TRACE_LOG_LIMIT: usize = 1000;

#[derive(Debug, Clone, Serialize)]
pub struct TracedEvent {
    pub event_id: Id,
    pub conversation_id: Id,
    pub sender_id: i64,
    /// `+34600000001`.
    pub contact: String,
    pub at: DateTime<Utc>,
    pub trace: Trace,
    /// How the event changed the conversation's handoff to a person, if it did: the
    /// sandbox chat shows where one began and ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff: Option<HandoffChange>,
}

/// A handoff to a person beginning or ending.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum HandoffChange {
    /// A `handoff` step handed the conversation to a person.
    Began {
        since: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
        flow: String,
    },
    /// Released through the API (`by: api`) or the sandbox page (`by: sandbox`).
    Released { by: Option<String> },
    /// Its time ran out (the handoff's timer, or a message after it).
    TimedOut,
}

impl HandoffChange {
    /// The change from `before` to `after` that `event` made.
    pub fn of(
        before: Option<&Handoff>,
        after: Option<&Handoff>,
        event: &EventKind,
    ) -> Option<Self> {
        match (before, after) {
            (_, Some(h)) if before.is_none_or(|b| b.since != h.since) => Some(Self::Began {
                since: h.since,
                until: h.until,
                flow: h.flow.clone(),
            }),
            (Some(_), None) => Some(match event {
                EventKind::Timer(fire) => match &fire.timer {
                    Timer::Release { by } => Self::Released { by: by.clone() },
                    _ => Self::TimedOut,
                },
                _ => Self::TimedOut,
            }),
            _ => None,
        }
    }
}

#[derive(Clone, Default)]
pub struct TraceLog {
    ring: Arc<Mutex<VecDeque<Arc<TracedEvent>>>>,
}

impl TraceLog {
    pub fn push(&self, mut event: TracedEvent) {
        event.trace.fit(ENTRY_MAX);
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        // An event handled again (after a crash) replaces its older trace.
        ring.retain(|e| e.event_id != event.event_id);
        if ring.len() >= TRACE_LOG_LIMIT {
            ring.pop_front();
        }
        ring.push_back(Arc::new(event));
    }

    pub fn get(&self, event_id: Id) -> Option<Arc<TracedEvent>> {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        ring.iter().rev().find(|e| e.event_id == event_id).cloned()
    }

    /// The traces of one conversation, oldest first.
    pub fn of_conversation(&self, conversation_id: Id) -> Vec<Arc<TracedEvent>> {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        ring.iter()
            .filter(|e| e.conversation_id == conversation_id)
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Runs the flow engine with a trace for conversations of sandbox senders.
pub struct TracingEngine {
    pub engine: Arc<FlowEngine>,
    pub senders: Arc<Vec<i64>>,
    pub log: TraceLog,
}

#[async_trait]
impl Engine for TracingEngine {
    async fn handle(&self, input: StepInput<'_>) -> StepOutput {
        if !self.senders.contains(&input.conversation.sender_id) {
            return self.engine.handle(input).await;
        }
        let (out, trace) = self.engine.handle_traced(input).await;
        self.log.push(TracedEvent {
            event_id: input.event.id,
            conversation_id: input.conversation.id,
            sender_id: input.conversation.sender_id,
            contact: input.contact.key.clone(),
            at: input.now,
            trace,
            handoff: HandoffChange::of(
                input.conversation.state.handoff.as_ref(),
                out.state.handoff.as_ref(),
                &input.event.kind,
            ),
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: Id, conversation_id: Id) -> TracedEvent {
        TracedEvent {
            event_id: id,
            conversation_id,
            sender_id: 3,
            contact: "+16315551181".into(),
            at: Utc::now(),
            trace: Trace::default(),
            handoff: None,
        }
    }

    #[test]
    fn a_handoff_change_says_whether_it_began_was_released_or_ran_out() {
        use crate::domain::TimerFire;
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let handoff = |since: &str| Handoff {
            since: at(since),
            until: Some(at(since) + chrono::Duration::hours(4)),
            flow: "human_handoff".into(),
        };
        let fire = |timer: Timer| {
            EventKind::Timer(TimerFire {
                timer_id: 1,
                timer,
                due_at: at("2026-01-01T10:00:00Z"),
            })
        };
        let first = handoff("2026-01-01T10:00:00Z");
        let second = handoff("2026-01-01T11:00:00Z");
        let release = fire(Timer::Release {
            by: Some("sandbox".into()),
        });
        let timeout = fire(Timer::HandoffTimeout { run: 1, step: 1 });
        assert_eq!(
            HandoffChange::of(None, Some(&first), &release),
            Some(HandoffChange::Began {
                since: first.since,
                until: first.until,
                flow: "human_handoff".into()
            })
        );
        assert!(matches!(
            HandoffChange::of(Some(&first), Some(&second), &timeout),
            Some(HandoffChange::Began { since, .. }) if since == second.since
        ));
        assert_eq!(
            HandoffChange::of(Some(&first), Some(&first), &release),
            None
        );
        assert_eq!(HandoffChange::of(None, None, &release), None);
        assert_eq!(
            HandoffChange::of(Some(&first), None, &release),
            Some(HandoffChange::Released {
                by: Some("sandbox".into())
            })
        );
        assert_eq!(
            HandoffChange::of(Some(&first), None, &timeout),
            Some(HandoffChange::TimedOut)
        );
    }

    #[test]
    fn a_trace_is_kept_within_its_bound_whatever_it_holds() {
        use crate::engine::trace::TraceExchange;
        let huge = "a".repeat(1_000_000);
        let mut e = event(1, 1);
        let long = "d".repeat(10_000);
        e.trace.decisions = vec![long.clone(); 50];
        e.trace.exchanges = vec![
            TraceExchange {
                answer: huge.clone(),
                tool_calls: vec![format!("{} {{}}: refused", "w".repeat(900_000))],
                messages: vec![long.clone(); 60],
                ..Default::default()
            };
            4
        ];
        e.trace
            .vars_after
            .insert("reply".into(), serde_json::json!(vec![long.clone(); 100]));
        let log = TraceLog::default();
        log.push(e);
        let kept = log.get(1).unwrap();
        let size = kept.trace.size();
        assert!(size <= ENTRY_MAX, "the trace took {size} bytes");
        let answer = &kept.trace.exchanges[0].answer;
        assert!(answer.starts_with("aaaa"), "{answer}");
        assert!(answer.ends_with(" more characters)"), "{answer}");
        // Within its bound, a trace is kept as it is.
        let mut small = event(2, 1);
        small.trace.decisions = vec!["x".repeat(4_000); 10];
        let before = small.trace.clone();
        log.push(small);
        assert_eq!(log.get(2).unwrap().trace, before);
    }

    #[test]
    fn keeps_the_latest_traces_by_event_id() {
        let log = TraceLog::default();
        for id in 0..(TRACE_LOG_LIMIT as i64 + 10) {
            log.push(event(id, id % 2));
        }
        assert_eq!(log.len(), TRACE_LOG_LIMIT);
        assert!(log.get(5).is_none());
        assert_eq!(log.get(500).unwrap().event_id, 500);
        assert_eq!(log.of_conversation(1).len(), TRACE_LOG_LIMIT / 2);
        log.push(event(500, 7));
        assert_eq!(log.get(500).unwrap().conversation_id, 7);
        assert_eq!(log.len(), TRACE_LOG_LIMIT);
    }
}
