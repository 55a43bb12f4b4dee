//! WhatsApp's limits on what one message may carry, written once. Flows are checked against
//! them at load, the APIs refuse requests past them, the engine clips rendered text to them,
//! the config checks declared templates, and the OpenAPI document publishes them. Lengths
//! are in characters (Unicode scalar values), sizes in bytes.

use super::MediaKind;

/// A text message's body.
pub const TEXT_MAX: usize = 4_096;
/// A media caption, and the body of a message with buttons or a list (or a template).
pub const BODY_MAX: usize = 1_024;
/// Reply buttons on one message.
pub const REPLY_BUTTONS_MAX: usize = 3;
/// A reply button's title, and a URL button's label.
pub const BUTTON_TITLE_MAX: usize = 20;
/// A button's or a list row's id, echoed back when the customer taps it.
pub const BUTTON_ID_MAX: usize = 256;
/// An interactive message's header text.
pub const HEADER_MAX: usize = 60;
/// An interactive message's footer text.
pub const FOOTER_MAX: usize = 60;
/// Rows in one list message, across all its sections.
pub const LIST_ROWS_MAX: usize = 10;
/// A list row's title.
pub const ROW_TITLE_MAX: usize = 24;
/// A list row's description.
pub const ROW_DESCRIPTION_MAX: usize = 72;
/// Quick-reply buttons on one template.
pub const TEMPLATE_BUTTONS_MAX: usize = 10;

/// The label of the button that opens a WhatsApp Flow (`flow_cta`). Meta's "Sending a
/// Flow" page says 30 characters, no emoji; older SDKs still check 20.
pub const FORM_CTA_MAX: usize = 30;
/// A WhatsApp Flow's first screen id, as authors write it.
pub const FORM_SCREEN_MAX: usize = 100;
/// Fields a `form` step may declare.
pub const FORM_FIELDS_MAX: usize = 50;
/// The `response_json` text of a form submission Parley reads; larger ones are refused.
pub const FORM_RESPONSE_BYTES_MAX: usize = 64 * 1024;
/// Nesting of a form submission (an object of lists of objects is 3).
pub const FORM_RESPONSE_DEPTH_MAX: usize = 8;
/// Values (at any depth) in one form submission.
pub const FORM_RESPONSE_VALUES_MAX: usize = 500;

const MB: u64 = 1024 * 1024;

/// The largest file WhatsApp accepts for each kind of media.
pub const fn media_bytes_max(kind: MediaKind) -> u64 {
    match kind {
        MediaKind::Image => 5 * MB,
        MediaKind::Video | MediaKind::Audio => 16 * MB,
        MediaKind::Document => 100 * MB,
        MediaKind::Sticker => 500 * 1024,
    }
}
