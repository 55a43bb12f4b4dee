//! Shortening text that Parley keeps or echoes rather than sends: a model's answer in a
//! trace, an offending value quoted back in a refusal. What a reader loses is said, so a
//! shortened value never passes for the whole one.

const MARK: &str = "… (";
const MARK_END: &str = " more characters)";

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
    use super::shorten;

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
