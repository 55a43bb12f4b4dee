//! What the YAML reader's complaint about a whole test file means to a flow author: the
//! reader counts steps from 0 and names two common slips in its own terms.

use super::{places, FormatError};

/// The YAML reader's complaint about the file, in the words of the other messages: steps
/// counted from 1, a setting written twice shown at both places, and the two slips it
/// names least clearly (a `: ` inside a text, a line out of step) explained.
pub(super) fn explain(text: &str, e: &serde_yaml::Error) -> FormatError {
    let line = e.location().map(|l| l.line()).unwrap_or(1);
    let column = e.location().map(|l| l.column());
    let said = e.to_string();
    // `steps[1].expect_reply: …` → `step 2: `, and `expect_reply` for the message.
    let (step, within, rest) = match said
        .strip_prefix("steps[")
        .and_then(|r| r.split_once(']'))
        .and_then(|(n, r)| Some((n.parse::<usize>().ok()?, r)))
    {
        Some((n, rest)) => {
            let (within, rest) = match rest.strip_prefix('.') {
                Some(r) => r.split_once(": ").unwrap_or(("", r)),
                None => ("", rest.trim_start_matches(": ")),
            };
            (
                format!("step {}: ", n + 1),
                within.to_string(),
                rest.to_string(),
            )
        }
        None => (String::new(), String::new(), said.clone()),
    };
    if rest.contains("duplicate entry with key") {
        if let Some((name, first, again)) = places::duplicate(text) {
            let inside = if within.is_empty() {
                String::new()
            } else {
                format!(" in `{within}`")
            };
            let keep = if within.is_empty() && !step.is_empty() {
                "keep one (each action or check goes on its own `- ` line)"
            } else {
                "keep one"
            };
            return FormatError {
                line: again.line,
                column: Some(again.column),
                message: format!(
                    "{step}`{name}` is written twice{inside} (lines {} and {}); {keep}",
                    first.line, again.line
                ),
            };
        }
    }
    if rest.starts_with("mapping values are not allowed") {
        if let Some(quoted) = colon_in_text(text, line) {
            return quoted;
        }
    }
    // Broken YAML is mostly a line out of step with those above it: say which, as
    // `parley check` does for a flow file.
    if let Some(off) = crate::flows::out_of_step(text, line) {
        return FormatError {
            line: off.line,
            column: Some(off.column),
            message: format!("{} (the YAML reader says: {e}); {}", off.what, off.hint),
        };
    }
    let within = if within.is_empty() {
        within
    } else {
        format!("{within}: ")
    };
    FormatError {
        line,
        column,
        message: format!("{step}{within}{rest}"),
    }
}

/// `- expect_reply: You said: 12.50`: a text with `: ` in it, which YAML reads as the
/// start of a second setting ("mapping values are not allowed in this context").
fn colon_in_text(text: &str, line: usize) -> Option<FormatError> {
    let raw = text.lines().nth(line.checked_sub(1)?)?;
    let body = raw.trim_start();
    let body = body.strip_prefix("- ").unwrap_or(body).trim_start();
    let (name, value) = body.split_once(": ")?;
    let value = value.split(" #").next().unwrap_or(value).trim();
    let opens_something = value.starts_with(['"', '\'', '{', '[', '|', '>', '&', '!', '*']);
    let plain_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if opens_something || !plain_name || !(value.contains(": ") || value.ends_with(':')) {
        return None;
    }
    let quoted = if value.contains('"') && !value.contains('\'') {
        format!("'{value}'")
    } else {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    };
    // Where the text starts, counted in characters as the other columns are.
    let offset = value.as_ptr() as usize - raw.as_ptr() as usize;
    Some(FormatError {
        line,
        column: Some(raw[..offset].chars().count() + 1),
        message: format!(
            "the text after `{name}:` has `: ` in it, which YAML reads as the start of another setting; put the text in quotes: `{name}: {quoted}`"
        ),
    })
}
