//! `/api/conversations…`: the read API for agents and dashboards in `read.rs`
//! (`GET /api/conversations`, `GET /api/conversations/{id}/messages`) and the writes in
//! `write.rs` (`POST /api/conversations/{id}/messages`, `POST /api/conversations/{id}/release`),
//! with the content a message may have in `content.rs`.

mod content;
mod read;
mod write;

pub use read::{list, messages};
pub use write::{queue_release, release, send_message};
