//! The handle every hop records spans through. Off (the default), it is nothing: no
//! queue, no task, and each hook's `if` is all the hot path pays. On, a span is handed to
//! a bounded queue the exporter drains in the background; a full queue drops the span and
//! counts it (`parley_trace_spans_dropped_total{reason="queue_full"}`), so recording never
//! waits and never fails the work it describes.
//!
//! While the engine handles an event, the trace it belongs to is kept in a task-local
//! ([`within`]), so the effects deep inside (an `http` step, a model call) find their
//! parent and the `traceparent` to send without every signature carrying it.

use super::span::Span;
use crate::domain::{TraceContext, TraceId};
use crate::metrics as m;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Clone, Default)]
pub struct Tracer(Option<Arc<Shared>>);

struct Shared {
    queue: mpsc::Sender<Span>,
    sample_ratio: f64,
    include_text: bool,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_on() {
            "Tracer(on)"
        } else {
            "Tracer(off)"
        })
    }
}

impl Tracer {
    /// Records nothing.
    pub fn off() -> Self {
        Self(None)
    }

    /// Hands spans to `queue` (the exporter's).
    pub(super) fn new(queue: mpsc::Sender<Span>, sample_ratio: f64, include_text: bool) -> Self {
        Self(Some(Arc::new(Shared {
            queue,
            sample_ratio,
            include_text,
        })))
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Whether customers' texts may be put in spans (`telemetry.include_text`).
    pub fn include_text(&self) -> bool {
        self.0.as_ref().is_some_and(|s| s.include_text)
    }

    /// Whether the trace `id` is recorded: off, never; on, by `telemetry.sample_ratio`.
    pub fn samples(&self, id: &TraceId) -> bool {
        self.0
            .as_ref()
            .is_some_and(|s| id.sampled_at(s.sample_ratio))
    }

    /// An inbound message's trace (`TraceContext::of_message`), if it is recorded.
    pub fn of_message(&self, sender_id: i64, provider_message_id: &str) -> Option<TraceContext> {
        self.0.as_ref()?;
        let mut ctx = TraceContext::of_message(sender_id, provider_message_id);
        ctx.sampled = self.samples(&ctx.trace_id);
        ctx.sampled.then_some(ctx)
    }

    /// The trace work started by a request joins: the caller's `traceparent` when it sent
    /// a valid one (recorded if the caller samples it), else a new trace sampled at the
    /// ratio. `None` when off or not sampled.
    pub fn join(&self, traceparent: Option<&str>) -> Option<TraceContext> {
        self.0.as_ref()?;
        match traceparent.and_then(TraceContext::parse_traceparent) {
            Some(ctx) => ctx.sampled.then_some(ctx),
            None => {
                let trace_id = TraceId::random();
                self.samples(&trace_id).then(|| TraceContext {
                    trace_id,
                    span_id: crate::domain::SpanId::random(),
                    sampled: true,
                })
            }
        }
    }

    /// Queues a finished span for export; dropped and counted when the queue is full.
    pub fn record(&self, span: Span) {
        let Some(shared) = &self.0 else { return };
        if let Err(e) = shared.queue.try_send(span) {
            let reason = match e {
                mpsc::error::TrySendError::Full(_) => "queue_full",
                mpsc::error::TrySendError::Closed(_) => "stopped",
            };
            metrics::counter!(m::TRACE_SPANS_DROPPED, "reason" => reason).increment(1);
        }
    }
}

/// The trace a piece of work runs in, for the effects inside it.
#[derive(Clone, Debug)]
pub struct Active {
    pub tracer: Tracer,
    /// The span what starts inside is a child of.
    pub parent: TraceContext,
}

tokio::task_local! {
    static ACTIVE: Active;
}

/// Runs `work` with `active` as its trace (nothing when `None`).
pub async fn within<F: Future>(active: Option<Active>, work: F) -> F::Output {
    match active {
        Some(active) => ACTIVE.scope(active, work).await,
        None => work.await,
    }
}

/// The trace the current task runs in, if any.
pub fn active() -> Option<Active> {
    ACTIVE.try_with(Active::clone).ok()
}

/// The `traceparent` to send with a request made now, if the task runs in a trace.
pub fn traceparent() -> Option<String> {
    ACTIVE.try_with(|a| a.parent.traceparent()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn off_records_nothing_and_samples_nothing() {
        let off = Tracer::off();
        assert!(!off.is_on() && !off.include_text());
        assert_eq!(off.of_message(1, "wamid.A"), None);
        assert_eq!(off.join(None), None);
        off.record(Span::child_of(
            &TraceContext::of_message(1, "x"),
            "x",
            super::super::span::SpanKind::Internal,
            chrono::Utc::now(),
        ));
        assert!(active().is_none() && traceparent().is_none());
    }

    #[tokio::test]
    async fn a_callers_traceparent_is_joined_and_a_bad_one_starts_a_new_trace() {
        let (tx, _rx) = mpsc::channel(4);
        let on = Tracer::new(tx, 1.0, false);
        let theirs = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let joined = on.join(Some(theirs)).unwrap();
        assert_eq!(joined.traceparent(), theirs);
        // Their decision not to record is kept.
        assert_eq!(on.join(Some(&theirs.replace("-01", "-00"))), None);
        let fresh = on.join(Some("00-nonsense")).unwrap();
        assert_ne!(fresh.trace_id, joined.trace_id);
        assert!(on.of_message(1, "wamid.A").unwrap().sampled);
        let active = Active {
            tracer: on.clone(),
            parent: joined,
        };
        let inside = within(Some(active), async { traceparent() }).await;
        assert_eq!(inside.as_deref(), Some(theirs));
    }

    #[tokio::test]
    async fn a_full_queue_drops_spans_without_waiting() {
        let (tx, mut rx) = mpsc::channel(1);
        let on = Tracer::new(tx, 1.0, false);
        let ctx = TraceContext::of_message(1, "x");
        let span = |n: &'static str| {
            Span::child_of(
                &ctx,
                n,
                super::super::span::SpanKind::Internal,
                chrono::Utc::now(),
            )
        };
        on.record(span("kept"));
        on.record(span("dropped"));
        assert_eq!(rx.recv().await.unwrap().name, "kept");
        assert!(rx.try_recv().is_err());
    }
}
