//! WhatsApp's limits on what one message may carry, written once. Flows are checked against
//! them at load, the APIs refuse requests past them, the engine clips rendered text to them,
//! the config checks declared templates, and the OpenAPI document publishes them. Lengths
//! are in characters (Unicode scalar values), sizes in bytes.

use super::MediaKind;

/// A text message's body.
pub const TEXT_MAX: usize = 4_096;
/// Longest business-scoped user id Parley stores: Meta documents a two-letter country code,
/// a dot and up to 128 letters and digits (parent ids add `ENT.`); a little headroom.
pub const BSUID_MAX_LEN: usize = 140;
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
/// A location request's body text (Meta's `location_request_message`).
pub const LOCATION_REQUEST_BODY_MAX: usize = 1_024;
/// A reaction's emoji, in Unicode scalar values: one emoji, which may be a sequence
/// (skin tone, flags, ZWJ families run up to 10), never a sentence.
pub const REACTION_EMOJI_MAX: usize = 10;
/// A Twilio list-picker item's id (Content API `twilio/list-picker`); longer ids cannot go
/// out as a list on Twilio.
pub const TWILIO_LIST_ITEM_ID_MAX: usize = 200;
/// How long WhatsApp shows "typing…" after one request, unless a reply comes first.
pub const TYPING_INDICATOR_LIFETIME: std::time::Duration = std::time::Duration::from_secs(25);

/// The longest template parameter Parley accepts (a body with its parameters filled in is
/// at most `BODY_MAX`, so no one parameter is longer).
pub const TEMPLATE_PARAMETER_MAX: usize = BODY_MAX;

/// Why `value` cannot be a template's text parameter, if it cannot: WhatsApp refuses line
/// breaks, tabs and more than four spaces in a row (error 132018), and control characters;
/// a parameter longer than a whole template body cannot fit.
pub fn template_parameter_problem(value: &str) -> Option<String> {
    if value.contains(['\n', '\r', '\t']) {
        return Some("has a line break or a tab, which WhatsApp refuses in template parameters (error 132018)".into());
    }
    if value.contains("     ") {
        return Some("has more than four spaces in a row, which WhatsApp refuses in template parameters (error 132018)".into());
    }
    if value.chars().any(char::is_control) {
        return Some("has a control character".into());
    }
    let n = value.chars().count();
    (n > TEMPLATE_PARAMETER_MAX).then(|| {
        format!("is {n} characters long; a template parameter may have at most {TEMPLATE_PARAMETER_MAX}")
    })
}

/// Whether `text` shows nothing: only spaces, line breaks and characters of no width (a
/// zero-width space, a joiner, a direction mark, a soft hyphen, a byte-order mark), which
/// WhatsApp shows as an empty bubble or refuses.
pub fn is_blank(text: &str) -> bool {
    text.chars().all(|c| {
        c.is_whitespace()
            || matches!(
                c,
                '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}'
            )
    })
}

/// A flow's filled-in template parameter made one WhatsApp takes (see
/// `template_parameter_problem`): line breaks and tabs become spaces (a customer's address
/// written on three lines), and more than four spaces in a row become four. A broadcast
/// refuses such a value instead (its skip report tells the operator); a flow has nobody
/// to tell.
pub fn one_line_parameter(s: String) -> String {
    if !s.contains(['\n', '\r', '\t']) && !s.contains("     ") {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut spaces = 0;
    for c in s.chars() {
        let c = if matches!(c, '\n' | '\r' | '\t') {
            ' '
        } else {
            c
        };
        spaces = if c == ' ' { spaces + 1 } else { 0 };
        if spaces <= 4 {
            out.push(c);
        }
    }
    out
}

/// A control character other than a line break or a tab: what `text_control_problem`
/// refuses in what the API is given, and what a flow's filled-in message drops.
pub fn unshown(c: char) -> bool {
    c.is_control() && !matches!(c, '\n' | '\r' | '\t')
}

/// Why a message's text cannot go out, if it has a control character other than a line
/// break or a tab (a NUL, an escape sequence): no customer's phone shows them, and some
/// break what reads them.
pub fn text_control_problem(text: &str) -> Option<String> {
    text.chars().find(|c| unshown(*c)).map(|c| {
        format!(
            "has a control character (U+{:04X}); only line breaks and tabs are allowed",
            c as u32
        )
    })
}

/// Why `text` cannot be a label (a contact's name, a tag, which greetings and lists
/// repeat), if it cannot: one line of plain text, no control character at all, line
/// breaks and tabs included.
pub fn label_problem(text: &str) -> Option<String> {
    text.chars().find(|c| c.is_control()).map(|c| {
        format!(
            "has a line break, a tab or another control character (U+{:04X}); write it on one line of plain text",
            c as u32
        )
    })
}

/// The longest file name Parley sends with a document (most systems allow 255 bytes).
pub const FILENAME_MAX: usize = 240;

/// Why `emoji` cannot be a reaction, if it cannot. Empty is allowed (it removes a reaction).
pub fn reaction_problem(emoji: &str) -> Option<String> {
    let n = emoji.chars().count();
    if n > REACTION_EMOJI_MAX {
        return Some(format!(
            "a reaction is one emoji, and `{emoji}` is {n} characters long (at most {REACTION_EMOJI_MAX})"
        ));
    }
    if emoji
        .chars()
        .any(|c| c.is_alphanumeric() || c.is_whitespace() || c.is_ascii_punctuation())
    {
        return Some(format!(
            "a reaction is one emoji, and `{emoji}` has letters, digits, spaces or punctuation"
        ));
    }
    None
}

/// Quick-reply buttons on one template.
pub const TEMPLATE_BUTTONS_MAX: usize = 10;

/// Inbound bounds: what Parley keeps of a customer's message, whatever the provider sends.
/// Shared contact cards kept from one `contacts` message (the rest are dropped, logged).
pub const SHARED_CONTACTS_MAX: usize = 20;
/// Phones, emails or WhatsApp ids kept per shared contact card.
pub const SHARED_CONTACT_FIELDS_MAX: usize = 10;
/// Lines kept from one `order` (a WhatsApp cart holds at most 99 distinct products).
pub const ORDER_ITEMS_MAX: usize = 100;
/// Any inbound text field kept in full up to this many characters (longer is cut), except
/// a message's body, which the provider bounds.
pub const INBOUND_FIELD_MAX: usize = 1_024;
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

/// The largest answer an `http` step keeps (bytes); a script's text values may be as long,
/// since the run's `vars` that hold such an answer come into every script.
pub const HTTP_ANSWER_MAX: usize = 1024 * 1024;

/// The most a run's variables (`vars`) may hold in all (bytes of text, roughly): two
/// `http` answers' worth. Past it the step that would add more fails, so one conversation
/// cannot grow the database and the process without bound.
pub const RUN_VARS_MAX: usize = 2 * HTTP_ANSWER_MAX;

/// The size `RUN_VARS_MAX` counts of a JSON value: its text, keys and a few bytes per
/// value, walked no further than a little past `limit`.
pub fn json_size(value: &serde_json::Value, limit: usize) -> usize {
    fn walk(v: &serde_json::Value, total: &mut usize, limit: usize) {
        *total = total.saturating_add(8);
        if *total > limit {
            return;
        }
        match v {
            serde_json::Value::String(s) => *total = total.saturating_add(s.len()),
            serde_json::Value::Array(a) => {
                for item in a {
                    walk(item, total, limit);
                    if *total > limit {
                        return;
                    }
                }
            }
            serde_json::Value::Object(m) => {
                for (k, item) in m {
                    *total = total.saturating_add(k.len());
                    walk(item, total, limit);
                    if *total > limit {
                        return;
                    }
                }
            }
            _ => {}
        }
    }
    let mut total = 0;
    walk(value, &mut total, limit);
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_parameter_is_one_line_of_at_most_four_spaces_in_a_row() {
        assert_eq!(
            one_line_parameter("Calle Mayor 1\n2ºB\r\n\tMadrid".into()),
            "Calle Mayor 1 2ºB   Madrid"
        );
        assert_eq!(one_line_parameter("a        b".into()), "a    b");
        assert_eq!(one_line_parameter("plain".into()), "plain");
    }

    #[test]
    fn text_of_spaces_and_zero_width_characters_is_blank() {
        for blank in [
            "",
            "  \n\t",
            "\u{200B}\u{200B}",
            " \u{FEFF}\u{2060} ",
            "\u{00AD}",
        ] {
            assert!(is_blank(blank), "{blank:?}");
        }
        for shown in ["a", " . ", "\u{200B}hi", "👍", "\u{200D}👍"] {
            assert!(!is_blank(shown), "{shown:?}");
        }
    }

    #[test]
    fn reactions_are_one_emoji_or_empty() {
        assert_eq!(reaction_problem("👍"), None);
        assert_eq!(reaction_problem(""), None);
        assert_eq!(reaction_problem("👍🏽"), None);
        assert_eq!(reaction_problem("👨‍👩‍👧‍👦"), None);
        assert!(reaction_problem("ok").is_some());
        assert!(reaction_problem("👍 👍").is_some());
        assert!(reaction_problem(&"👍".repeat(11)).is_some());
    }
}
