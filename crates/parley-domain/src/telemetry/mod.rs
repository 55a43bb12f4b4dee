//! OpenTelemetry traces (issue 60): one trace per inbound message, from the webhook to the
//! provider's answer, sent to an OTLP/HTTP collector as JSON. Off unless `telemetry:`
//! names an endpoint; then every hook records its span through a [`Tracer`] that never
//! waits.
//!
//! - `span`: a finished span and its attributes (bounded).
//! - `otlp`: spans in OTLP's JSON encoding.
//! - `tracer`: the handle hops record through, its bounded queue, and the trace a task
//!   runs in (`within`, `active`, `traceparent`).
//! - `exporter`: the background task that batches spans and sends them.
//!
//! The context itself (ids, `traceparent`) is a domain type (`domain::TraceContext`), as
//! rows carry it.

pub mod exporter;
pub mod otlp;
pub mod span;
pub mod tracer;

pub use exporter::{start, ExportSettings};
pub use span::{Span, SpanKind, Value};
pub use tracer::{active, traceparent, within, Active, Tracer};
