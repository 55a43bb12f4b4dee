//! What the API families share, so that none imports another: the limits and parsers of
//! fields several families take, the conversation a path names, and `ApiContext`. A leaf
//! of `api/`: it imports the HTTP layer's leaves (`body`, `error`, `state`) and the layers
//! below.

use super::body::Fields;
use crate::domain::{Conversation, PhoneNumber};
use crate::http::error::Error;
use crate::http::state::AppState;

/// WhatsApp's limit on a text message.
pub const MAX_TEXT: usize = crate::domain::limits::TEXT_MAX;

/// A listing's page size when the request names none (`?limit=`).
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// What the API's handlers share beyond `AppState`, built once when the router is.
pub(crate) struct ApiContext {
    /// For media HEAD checks: no redirects, names through the network guard.
    pub media_http: reqwest::Client,
}

/// A phone number typed by a client: valid in its country's numbering plan.
pub fn phone(field: &str, value: &str) -> Result<PhoneNumber, Error> {
    PhoneNumber::parse_strict(value).map_err(|e| Error::field(field, format!("{field}: {e}")))
}

/// `?limit=`: 1 to 200, 50 when not given.
pub(crate) fn limit(q: &Fields) -> Result<i64, Error> {
    match q.opt_int("limit")? {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(Error::field(
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

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
