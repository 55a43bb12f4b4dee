//! The HTTP edge's part of traces (`telemetry:`): the first span of an inbound message's
//! trace (`ingest`: the webhook received → its items committed, the trace's root, with the
//! ids every later hop derives again from the message), and the span of an API request
//! (`POST /api/…`), which joins the caller's trace when it sends a valid sampled
//! `traceparent` (anything else is ignored: a new trace at the sample ratio). Handlers run
//! inside the request's trace, so a send it queues carries it to the outbox.

use super::state::AppState;
use crate::domain::TraceContext;
use crate::store::{IngestItem, IngestOutcome};
use crate::telemetry::{self, Active, Span, SpanKind, Tracer};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};

/// The trace of each item that is a message, in order (`None`: not a message, or not
/// sampled); `None` while tracing is off.
pub(super) fn messages(tracer: &Tracer, items: &[IngestItem]) -> Option<Vec<Option<TraceContext>>> {
    if !tracer.is_on() {
        return None;
    }
    Some(
        items
            .iter()
            .map(|item| match item {
                IngestItem::Message {
                    sender_id, message, ..
                } => tracer.of_message(*sender_id, &message.provider_message_id),
                _ => None,
            })
            .collect(),
    )
}

/// Records the `ingest` span of each message stored (a duplicate has its trace already).
pub(super) fn ingested(
    tracer: &Tracer,
    traces: Option<Vec<Option<TraceContext>>>,
    received: DateTime<Utc>,
    outcomes: &[IngestOutcome],
    provider: &'static str,
) {
    let Some(traces) = traces else { return };
    let now = Utc::now();
    for (trace, outcome) in traces.into_iter().zip(outcomes) {
        let (
            Some(ctx),
            IngestOutcome::Stored {
                event_id,
                conversation_id,
            },
        ) = (trace, outcome)
        else {
            continue;
        };
        let span = Span::with_id(
            ctx.trace_id,
            ctx.span_id,
            None,
            "ingest",
            SpanKind::Server,
            received,
        )
        .attr("parley.provider", provider)
        .attr("parley.event_id", *event_id)
        .attr("parley.conversation_id", *conversation_id)
        .ended(now);
        tracer.record(span);
    }
}

/// The longest request path kept in a span's name.
const MAX_PATH: usize = 200;

/// Middleware of the API: a span for each write (and each read that brings a
/// `traceparent`), with the handler running in its trace.
pub async fn api(State(st): State<AppState>, request: Request, next: Next) -> Response {
    if !st.tracer.is_on() {
        return next.run(request).await;
    }
    let traceparent = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let write =
        request.method() != axum::http::Method::GET && request.method() != axum::http::Method::HEAD;
    let joined = (write || traceparent.is_some())
        .then(|| st.tracer.join(traceparent.as_deref()))
        .flatten();
    let Some(parent) = joined else {
        return next.run(request).await;
    };
    let path: String = request.uri().path().chars().take(MAX_PATH).collect();
    let name = format!("{} {path}", request.method());
    // A caller's span is this one's parent; a new trace's first span is its root.
    let mut span = if traceparent.is_some_and(|t| TraceContext::parse_traceparent(&t).is_some()) {
        Span::child_of(&parent, name, SpanKind::Server, Utc::now())
    } else {
        Span::with_id(
            parent.trace_id,
            parent.span_id,
            None,
            name,
            SpanKind::Server,
            Utc::now(),
        )
    };
    let active = Active {
        tracer: st.tracer.clone(),
        parent: span.context(),
    };
    let response = telemetry::within(Some(active), next.run(request)).await;
    let status = response.status();
    span.set("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.failed(format!("answered {status}"));
    }
    st.tracer.record(span.ended(Utc::now()));
    response
}
