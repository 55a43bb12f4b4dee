//! Layer 1 of Parley (see the `parley` crate's docs and ARCHITECTURE.md): what every other
//! crate may use, and which uses nothing of Parley's own.
//!
//! - `domain`: pure types and rules (phone numbers, events, outbound messages, statuses,
//!   the window rule, WhatsApp's limits, error classes); no I/O.
//! - `net`: the guard for outbound HTTP that others point somewhere (internal addresses,
//!   redirects, DNS) and bounded reads of answers.
//! - `metrics`: Prometheus metric names and recorder; the per-thread allocation meter.
//! - `threads`: how Parley's own threads are scheduled (batch threads).
//! - `telemetry`: OpenTelemetry traces (spans, the OTLP exporter); it uses `domain` and
//!   `metrics`, a layer above them.
//!
//! The first four modules stand side by side and import none of each other
//! (`tests/it/layers.rs`).

pub mod domain;
pub mod metrics;
pub mod net;
pub mod telemetry;
pub mod threads;
