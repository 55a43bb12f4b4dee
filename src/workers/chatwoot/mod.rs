//! The Chatwoot bridge (issue 57): mirrors conversations into a Chatwoot inbox (as an
//! events-out endpoint, `crate::workers::events_out::Deliverer`) and sends what its agents
//! write through Parley.
