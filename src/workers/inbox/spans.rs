//! The inbox's part of a message's trace (`telemetry:`): how long the stored message
//! waited for a worker (`inbox.wait`, from its receipt to the start of its step), the
//! flow's handling of it (`flow.handle`, parent of the `http` steps' and model calls'
//! spans the engine records), and a span per step it entered. Only messages whose trace
//! is sampled; with tracing off, [`begin`] returns at its first line.

use crate::domain::{EventKind, OutboundContent, StoredEvent, TraceContext};
use crate::store::{NewOutbound, StepCommit};
use crate::telemetry::{Active, Span, SpanKind, Tracer};
use chrono::{DateTime, Utc};

/// A message's handling being traced.
pub(super) struct Traced {
    tracer: Tracer,
    handle: Span,
}

/// Records the message's wait and starts its handling's span, if `event` is a message
/// whose trace is sampled.
pub(super) fn begin(
    tracer: &Tracer,
    sender_id: i64,
    event: &StoredEvent,
    now: DateTime<Utc>,
) -> Option<Traced> {
    if !tracer.is_on() {
        return None;
    }
    let EventKind::Message(message) = &event.kind else {
        return None;
    };
    let root = tracer.of_message(sender_id, &message.provider_message_id)?;
    let wait = Span::child_of(&root, "inbox.wait", SpanKind::Consumer, event.received_at)
        .attr("parley.conversation_id", event.conversation_id)
        .attr("parley.event_id", event.id)
        .ended(now);
    tracer.record(wait);
    let mut handle = Span::child_of(&root, "flow.handle", SpanKind::Internal, Utc::now())
        .attr("parley.conversation_id", event.conversation_id)
        .attr("parley.event_id", event.id)
        .attr("parley.sender_id", sender_id);
    if tracer.include_text() {
        if let Some(text) = message.content.text() {
            handle.set("parley.message.text", text.to_string());
        }
    }
    Some(Traced {
        tracer: tracer.clone(),
        handle,
    })
}

impl Traced {
    /// The trace the engine's effects run in: children of the handling's span.
    pub(super) fn active(&self) -> Active {
        Active {
            tracer: self.tracer.clone(),
            parent: self.handle.context(),
        }
    }

    /// What the step's replies carry to the outbox: their parent is the handling.
    pub(super) fn context(&self) -> TraceContext {
        self.handle.context()
    }

    /// Ends the handling once its commit is in, with a span per step it entered.
    pub(super) fn finish(mut self, commit: &StepCommit) {
        let end = Utc::now();
        let entered: Vec<(&str, &str)> = commit
            .insights
            .counts
            .iter()
            .filter(|c| !c.step.is_empty() && c.what == "entered")
            .map(|c| (c.flow.as_str(), c.step.as_str()))
            .collect();
        if let Some((flow, _)) = entered.first() {
            self.handle.set("parley.flow", flow.to_string());
        }
        self.handle
            .set("parley.replies", commit.outbound.len() as i64);
        if self.tracer.include_text() {
            let texts: Vec<&str> = commit
                .outbound
                .iter()
                .filter_map(|o| reply_text(&o.message.content))
                .collect();
            if !texts.is_empty() {
                self.handle.set("parley.replies.text", texts.join("\n"));
            }
        }
        let parent = self.handle.context();
        for (flow, step) in entered {
            // A step without I/O takes microseconds inside the handling; its span covers
            // the handling (the `http` and model spans say where the time went).
            let span = Span::child_of(&parent, "flow.step", SpanKind::Internal, self.handle.start)
                .attr("parley.flow", flow.to_string())
                .attr("parley.step", step.to_string())
                .ended(end);
            self.tracer.record(span);
        }
        self.tracer.record(self.handle.ended(end));
    }
}

/// The step's replies carry its trace to the outbox.
pub(super) fn carry(traced: Option<&Traced>, outbound: &mut [NewOutbound]) {
    if let Some(t) = traced {
        for o in outbound {
            o.message.trace = Some(t.context());
        }
    }
}

/// A reply's text, for `include_text`.
fn reply_text(content: &OutboundContent) -> Option<&str> {
    match content {
        OutboundContent::Text { body, .. } | OutboundContent::Buttons { body, .. } => Some(body),
        _ => None,
    }
}
