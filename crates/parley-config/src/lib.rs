//! Layer 2 of Parley: the configuration. Documented defaults, the YAML file, `${ENV}`,
//! validated once (a file per section); the one duration parser; the size and nesting
//! limits of every YAML file.
//!
//! The crates below are imported at the root under their module names, so a path reads
//! the same in every crate (`crate::domain::Phone`).

use parley_domain::{domain, telemetry};

pub mod config;
