//! Layer 3 of Parley: Meta, Twilio and the sandbox channel (verify, parse, send), the
//! configured senders' clients and their pace.
//!
//! The crates below are imported at the root under their module names, so a path reads
//! the same in every crate (`crate::domain::Phone`).

use parley_config::config;
use parley_domain::{domain, metrics, net};

pub mod channels;
