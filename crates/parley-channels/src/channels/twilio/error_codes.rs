//! Short, actionable titles for the Twilio error codes a WhatsApp sender meets most, used
//! when Twilio sends a code without its message (status callbacks usually do).

/// A one-line title for `code`, or `None` for codes Parley has no wording for.
pub fn known_error_title(code: i64) -> Option<&'static str> {
    Some(match code {
        20003 => "Authentication failed: check the account SID and auth token",
        20429 => "Too many requests",
        21211 => "Invalid 'To' phone number",
        30003 => "Unreachable destination handset",
        30007 => "Message filtered by the carrier",
        30008 => "Unknown delivery error",
        63003 => "Channel could not find the recipient's WhatsApp address",
        63015 => "Sandbox recipient has not joined the sandbox",
        63016 => "Outside the allowed window: send an approved template instead",
        63018 => "Rate limit exceeded for the WhatsApp channel",
        63024 => "Invalid message recipient",
        63049 => "Meta chose not to deliver this marketing message",
        _ => return None,
    })
}
