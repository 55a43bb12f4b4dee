//! The outbox's part of a message's trace (`telemetry:`): how long the reply waited in
//! the outbox (`outbox.wait`, from its queueing to this attempt) and the attempt itself
//! (`send`: the window decided, the sender's pace, the provider's request and answer),
//! both children of the span that queued it (a flow's handling, an API request), whose
//! context the reply carries in its payload. Replies that carry none are not traced.

use crate::store::{OutboxItem, SendOutcome};
use crate::telemetry::{Span, SpanKind, Tracer};
use chrono::Utc;

/// An attempt being traced.
pub(super) struct Traced {
    tracer: Tracer,
    send: Span,
}

/// Records the reply's wait and starts the attempt's span, if it carries a trace.
pub(super) fn begin(
    tracer: &Tracer,
    item: &OutboxItem,
    channel: impl FnOnce() -> String,
) -> Option<Traced> {
    if !tracer.is_on() {
        return None;
    }
    let parent = item.message.trace.filter(|t| t.sampled)?;
    let now = Utc::now();
    let wait = Span::child_of(&parent, "outbox.wait", SpanKind::Consumer, item.created_at)
        .attr("parley.outbound_id", item.id)
        .attr("parley.attempts", i64::from(item.attempts))
        .ended(now);
    tracer.record(wait);
    let send = Span::child_of(&parent, "send", SpanKind::Client, now)
        .attr("parley.outbound_id", item.id)
        .attr("parley.sender_id", item.sender_id)
        .attr("parley.channel", channel());
    Some(Traced {
        tracer: tracer.clone(),
        send,
    })
}

impl Traced {
    /// Ends the attempt's span with what came of it (a failure is the span's error).
    pub(super) fn finish(mut self, outcome: &SendOutcome) {
        let what = match outcome {
            SendOutcome::Accepted {
                provider_message_id,
                converted_to,
            } => {
                self.send
                    .set("parley.provider_message_id", provider_message_id.clone());
                if converted_to.is_some() {
                    self.send.set("parley.converted_to_template", true);
                }
                "accepted"
            }
            SendOutcome::Retry { code, title, .. } => {
                self.send.failed(failure(*code, title));
                "retry"
            }
            SendOutcome::Failed { code, title, .. } => {
                self.send.failed(failure(*code, title));
                "failed"
            }
            SendOutcome::Skipped { .. } => "skipped",
            SendOutcome::Requeue => "requeued",
        };
        self.send.set("parley.outcome", what);
        self.tracer.record(self.send.ended(Utc::now()));
    }
}

fn failure(code: Option<i64>, title: &str) -> String {
    match code {
        Some(code) => format!("{code}: {title}"),
        None => title.to_string(),
    }
}
