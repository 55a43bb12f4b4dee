//! Parley: a self-hosted WhatsApp automation daemon.
//!
//! Dependencies point one way: `domain` (pure types) ← `flows` ← `engine` ← `store` ←
//! `workers` ← `channels` ← `http` ← `app` / `main`; `net` (the guard and bounded reads for
//! outbound HTTP) sits beside `domain`, used by `engine`, `channels` and `http`. See
//! DESIGN.md and README.md.

pub mod app;
pub mod channels;
pub mod cli;
pub mod config;
pub mod domain;
pub mod engine;
pub mod flows;
pub mod http;
pub mod metrics;
pub mod net;
pub mod sandbox;
pub mod store;
pub mod workers;
