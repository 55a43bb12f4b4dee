//! Shortening text that Parley keeps or echoes rather than sends: a model's answer in a
//! trace, an offending value quoted back in a refusal. What a reader loses is said, so a
//! shortened value never passes for the whole one.

const MARK: &str = "… (";
const MARK_END: &str = " more characters)";

/// `bytes` as text, without the byte-order mark Windows editors and spreadsheet programs
/// put first; or, when they are not UTF-8, the line and column (from 1) of the first
/// character that is not, for a file's reader to be told where to look.
pub fn utf8_without_bom(bytes: &[u8]) -> Result<&str, (usize, usize)> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let before = &bytes[..e.valid_up_to()];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        // Valid UTF-8 up to there: counted as characters, not bytes.
        let column = 1 + String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count();
        (line, column)
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// `s` cut to its first `max` characters, followed by `… (N more characters)` when it was
/// longer; `s` itself otherwise. A text shortened before is shortened again with the count
/// of everything left out.
pub fn shorten(s: &str, max: usize) -> String {
    let (body, before) = split_mark(s);
    match body.char_indices().nth(max) {
        None => s.to_string(),
        Some((cut, _)) => {
            let more = body[cut..].chars().count() + before;
            format!("{}{MARK}{more}{MARK_END}", &body[..cut])
        }
    }
}

/// `s` without the mark of an earlier shortening, and how many characters that left out.
fn split_mark(s: &str) -> (&str, usize) {
    let Some(rest) = s.strip_suffix(MARK_END) else {
        return (s, 0);
    };
    let Some(at) = rest.rfind(MARK) else {
        return (s, 0);
    };
    match rest[at + MARK.len()..].parse::<usize>() {
        Ok(n) => (&rest[..at], n),
        Err(_) => (s, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::{shorten, utf8_without_bom};

    #[test]
    fn text_loses_its_byte_order_mark_and_a_bad_byte_is_placed_by_line_and_character() {
        assert_eq!(utf8_without_bom("\u{feff}id: hi".as_bytes()), Ok("id: hi"));
        // Line 2: "añ" is two characters (three bytes), then a Latin-1 byte.
        assert_eq!(utf8_without_bom(b"ok\na\xc3\xb1\xe9"), Err((2, 3)));
        assert_eq!(utf8_without_bom(b"\xff"), Err((1, 1)));
    }

    #[test]
    fn a_long_text_keeps_its_start_and_says_how_much_is_left_out() {
        assert_eq!(shorten("order A-12345", 20), "order A-12345");
        assert_eq!(shorten("order A-12345", 13), "order A-12345");
        assert_eq!(shorten("order A-12345", 5), "order… (8 more characters)");
        assert_eq!(shorten("ñandú ñandú", 5), "ñandú… (6 more characters)");
        assert_eq!(shorten("", 0), "");
    }

    #[test]
    fn shortening_again_counts_everything_left_out() {
        let once = shorten(&"x".repeat(1_000), 100);
        assert_eq!(once, format!("{}… (900 more characters)", "x".repeat(100)));
        assert_eq!(shorten(&once, 200), once);
        assert_eq!(
            shorten(&once, 10),
            format!("{}… (990 more characters)", "x".repeat(10))
        );
    }
}
