//! `/api/conversations…`: the read API for agents and dashboards in `read.rs`
//! (`GET /api/conversations`, `GET /api/conversations/{id}/messages`) and the writes in
//! `write.rs` (`POST /api/conversations/{id}/messages`, `POST /api/conversations/{id}/release`).

mod read;
mod write;

pub(crate) use read::limit;
pub use read::{list, messages};
pub use write::{queue_release, release, send_message};

use crate::domain::Conversation;
use crate::http::error::Error;
use crate::http::AppState;

/// The conversation named in the path, or 404 `Conversation not found`.
pub(crate) async fn conversation(st: &AppState, raw_id: &str) -> Result<Conversation, Error> {
    let id: i64 = raw_id
        .trim()
        .parse()
        .map_err(|_| Error::conversation_not_found())?;
    st.store
        .conversation(id)
        .await?
        .ok_or_else(Error::conversation_not_found)
}
