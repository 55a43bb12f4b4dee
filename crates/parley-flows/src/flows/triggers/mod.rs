//! Triggers, what starts a flow, in one folder: `compile` reads a flow's `triggers:`,
//! `matcher` builds the one index every inbound message is matched through (and holds the
//! precedence rule), `explain` tells why each trigger did or did not match (`parley test`,
//! the sandbox, engine traces) and describes triggers in words.

pub(super) mod compile;
pub mod explain;
pub(super) mod matcher;

pub use matcher::{Candidate, MatchInput, Matched, Rank};
