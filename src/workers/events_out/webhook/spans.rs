//! The span of an event's delivery to a webhook endpoint (`telemetry:`), whose
//! `traceparent` goes with the request. A `message.received` event's delivery joins the
//! message's own trace (derived from its sender and provider message id, as every hop of
//! that message does); any other event's starts a trace of its own, sampled at the ratio.

use super::super::deliver::Outcome;
use crate::domain::{OutEvent, OutEventKind};
use crate::telemetry::{Span, SpanKind, Tracer};
use chrono::Utc;

/// Starts the delivery's span, if the event's trace is sampled.
pub(super) fn begin(
    tracer: &Tracer,
    endpoint: &str,
    event: &OutEvent,
    attempt: u32,
) -> Option<Span> {
    if !tracer.is_on() {
        return None;
    }
    let message = match (event.kind, event.sender_id) {
        (OutEventKind::MessageReceived, Some(sender)) => event.data["provider_message_id"]
            .as_str()
            .map(|id| (sender, id)),
        _ => None,
    };
    let parent = match message {
        Some((sender, id)) => tracer.of_message(sender, id)?,
        None => tracer.join(None)?,
    };
    let now = Utc::now();
    let span = match message {
        Some(_) => Span::child_of(&parent, "events.deliver", SpanKind::Producer, now),
        None => Span::with_id(
            parent.trace_id,
            parent.span_id,
            None,
            "events.deliver",
            SpanKind::Producer,
            now,
        ),
    };
    Some(
        span.attr("parley.endpoint", endpoint.to_string())
            .attr("parley.event", event.kind.as_str())
            .attr("parley.event_id", event.id)
            .attr("parley.attempt", i64::from(attempt)),
    )
}

/// Ends the delivery's span with what came of it.
pub(super) fn finish(tracer: &Tracer, mut span: Span, outcome: &Outcome) {
    let (status, error, what) = match outcome {
        Outcome::Delivered { status } => (status, None, "delivered"),
        Outcome::Retry { status, error } => (status, Some(error), "retry"),
        Outcome::Park { status, error } => (status, Some(error), "parked"),
    };
    if let Some(status) = status {
        span.set("http.response.status_code", i64::from(*status));
    }
    span.set("parley.outcome", what);
    if let Some(error) = error {
        span.failed(error.clone());
    }
    tracer.record(span.ended(Utc::now()));
}
