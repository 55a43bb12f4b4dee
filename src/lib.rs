//! Parley: a self-hosted WhatsApp automation daemon. A webhook is verified, deduplicated
//! and persisted, then acknowledged; a worker runs the conversation's flow through the
//! engine and commits the new state with the replies and timers it produced; the outbox
//! sends them.
//!
//! # Layout
//!
//! Modules are layered; each imports only from the layers above it in this list, and
//! modules sharing a layer import none of each other (`tests/it/layers.rs` checks every
//! `crate::` path against this map). See README.md, "Code layout".
//!
//! 1. `domain`: pure types and rules (phone numbers, events, outbound messages, statuses,
//!    the window rule, WhatsApp's limits, error classes); no I/O.
//!    `net`: the guard for outbound HTTP that others point somewhere (internal addresses,
//!    redirects, DNS) and bounded reads of answers.
//!    `metrics`: Prometheus metric names and recorder; the per-thread allocation meter.
//!    `threads`: how Parley's own threads are scheduled (batch threads).
//! 2. `config`: documented defaults, the YAML file, `${ENV}`, validated once (a file per
//!    section); the one duration parser; the size and nesting limits of every YAML file.
//! 3. `flows`: the YAML flow language (load, compile, the `{{ }}` template language,
//!    triggers, scripts, schedules, checks).
//!    `store`: persistence behind small traits by concept (ingest, inbox, outbox, timers,
//!    schedules, senders, reads), each implemented in its file of `sqlite/` and
//!    `postgres/` (migrations per backend); one conformance suite runs on both.
//!    `channels`: Meta, Twilio and the sandbox channel (verify, parse, send) and the
//!    configured senders' clients.
//!    `models`: the language models `agent` steps call (OpenAI-compatible, Anthropic, a
//!    scripted model) and voice-note transcription.
//! 4. `engine`: a pure interpreter (`engine/exec/`) runs one event through a
//!    conversation's flow and returns what follows (state, replies, contact changes,
//!    timers); the I/O a step needs (an `http` request, a script on the script pool) is
//!    handed out as an `Effect` that `FlowEngine` performs before resuming it.
//!    `studio`, beside it: what helps people write flows (the flows' JSON Schema, the
//!    analysis of a file while it is typed, the language server, the drawn graph).
//! 5. `workers`: ingest (group commit), inbox, outbox, timers and schedules; they drive the
//!    engine, the store and the channels.
//! 6. `sandbox`: try flows without a WhatsApp number (injection, traces, the store and
//!    ingest behind the sandbox channel).
//! 7. `http`: axum routers (webhooks, the APIs, operations, the sandbox page).
//! 8. `app`: wiring and orderly shutdown.
//! 9. `cli`: the commands of the `parley` binary (`serve`, `check`, the database commands,
//!    `parley simulate`, `parley test`, `parley init`); `main.rs` parses the arguments and
//!    dispatches to them.
//!
//! # Rooms
//!
//! No production file is over 600 lines and no function over 150, and no two files of a
//! crate use each other in a circle (`tests/it/sizes.rs`, `tests/it/circles.rs`). The
//! exceptions, each for its reason:
//!
//! - `http/api/openapi/others.rs` and `http/api/openapi/sandbox.rs` (files) and
//!   `http/api/openapi/mod.rs`'s `details` (a function): tables, one entry per route of the
//!   OpenAPI document, read top to bottom; splitting them would split the document.
//! - `crates/parley-bench` (its `main.rs`, `report.rs`, `run`, `run_once`, and circles
//!   between its scenarios): the benchmark is a program beside the daemon; its crate's docs
//!   say why.

pub use parley_channels::channels;
pub use parley_config::config;
pub use parley_domain::{domain, metrics, net, telemetry, threads};
pub use parley_engine::engine;
pub use parley_flows::flows;
pub use parley_models::models;
pub use parley_store::store;
pub use parley_studio::studio;

pub mod app;
pub mod cli;
pub mod http;
pub mod sandbox;
pub mod workers;
