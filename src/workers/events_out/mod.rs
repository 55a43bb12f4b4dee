//! Events out (issue 57): delivering the `events_out` log (`crate::store::EventsOut`) to each
//! endpoint — Standard Webhooks endpoints from `events.endpoints`, and the Chatwoot bridge
//! (`crate::workers::chatwoot`) — at least once, in order per conversation, retried on a
//! schedule, then parked.

pub mod deliver;
pub mod endpoints;
pub mod schedule;
pub mod webhook;
pub mod worker;

pub use deliver::{Deliverer, Outcome};
