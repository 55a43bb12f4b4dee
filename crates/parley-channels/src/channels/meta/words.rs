//! What a failed request to Meta says in a log or an error: the transport's cause and a
//! short piece of the body.

/// How much of a non-JSON error body to quote back; enough to recognise an HTML error page.
const BODY_SNIPPET_CHARS: usize = 200;

/// reqwest's own message names only the URL; the cause (refused, timed out, DNS) is in the
/// source chain.
pub(super) fn describe_transport(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "request timed out".to_string()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The start of a body, for an error message (`BODY_SNIPPET_CHARS` characters).
pub(super) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    let mut cut: String = text.chars().take(BODY_SNIPPET_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}
