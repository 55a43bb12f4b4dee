//! The session status of the hosted platforms' API (seeds 000–002) for a conversation:
//! its window as the API judges it now. With `window.template_opens_window` the latest
//! accepted template counts like a customer message here (the platforms' claim in seed
//! 002); by default only the customer's messages open the window (Meta's rule). How a
//! window's state is phrased is `domain::session`.

use crate::domain::Conversation;
use crate::domain::WindowState;
use crate::http::state::AppState;
use crate::store::StoreResult;

/// The window of a conversation (closed when there is none) as the API judges it now.
pub async fn window_of(
    st: &AppState,
    conversation: Option<&Conversation>,
) -> StoreResult<WindowState> {
    let policy = st.config.window.policy();
    let now = st.clock.now();
    let Some(c) = conversation else {
        return Ok(policy.state(None, now));
    };
    let mut opened = c.last_inbound_at;
    if st.config.window.template_opens_window {
        if let Some(t) = st.store.last_template_at(c.id).await? {
            opened = opened.max(Some(t));
        }
    }
    Ok(policy.state(opened, now))
}
