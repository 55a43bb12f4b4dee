//! The hosted platforms' send API, `/api/user/whatsapp/…`: sends in `send.rs`
//! (`POST send-freeform`, `POST send` for templates) and reads in `status.rs`
//! (`GET session-status`, `GET senders`, `GET templates`). Errors in the `UserWhatsapp`
//! shape (`crate::http::error`), which Parley's own `/api/…` endpoints share.

mod send;
mod status;

pub use send::{send_freeform, send_template};
pub use status::{senders, session_status, templates};
