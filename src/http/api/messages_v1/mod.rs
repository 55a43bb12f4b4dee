//! `POST /api/v1/messages/send-message` (`send_message.rs`): free-form text, media or
//! buttons (`buttons.rs`) to a contact by phone number, with this API's own success body and
//! error shapes (`{"error": "bad_request", "message": …}` for bad input, `{"detail": …}`
//! otherwise; `crate::http::error::Family::MessagesV1`).

mod buttons;
mod send_message;

pub use send_message::send_message;
