//! Layer 3 of Parley: persistence behind small traits by concept (ingest, inbox, outbox,
//! timers, schedules, senders, reads), each implemented in its file of `sqlite/` and
//! `postgres/` (migrations per backend, in `migrations/`); one conformance suite runs on
//! both.
//!
//! The crates below are imported at the root under their module names, so a path reads
//! the same in every crate (`crate::domain::Phone`).

use parley_config::config;
use parley_domain::{domain, metrics, net, threads};

pub mod store;
