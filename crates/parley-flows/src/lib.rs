//! Layer 3 of Parley: the YAML flow language (load, compile, the `{{ }}` template
//! language, triggers, scripts, schedules, checks). It stands beside the store, the
//! channels and the models and imports none of them.
//!
//! The crates below are imported at the root under their module names, so a path reads
//! the same in every crate (`crate::domain::Phone`).

use parley_config::config;
use parley_domain::{domain, metrics, net};

pub mod flows;
