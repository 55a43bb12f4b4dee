//! Layer 4 of Parley: a pure interpreter (`engine/exec/`) runs one event through a
//! conversation's flow and returns what follows (state, replies, contact changes, timers);
//! the I/O a step needs (an `http` request, a script on the script pool) is handed out as
//! an `Effect` that `FlowEngine` performs before resuming it.
//!
//! The crates below are imported at the root under their module names, so a path reads
//! the same in every crate (`crate::domain::Phone`).

use parley_channels::channels;
use parley_config::config;
use parley_domain::{domain, metrics, net, telemetry};
use parley_flows::flows;
use parley_models::models;
use parley_store::store;

pub mod engine;
