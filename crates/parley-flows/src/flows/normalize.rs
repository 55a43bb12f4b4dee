//! Text folding for keyword matching: `  Menú!! ` and `menu` are the same keyword.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Lowercases, strips accents, turns punctuation into spaces and collapses whitespace.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else {
            pending_space = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn folds_case_accents_and_punctuation() {
        assert_eq!(normalize("Menú!"), "menu");
        assert_eq!(normalize("  ¿Hola,   QUÉ tal?  "), "hola que tal");
        assert_eq!(normalize("order #4821"), "order 4821");
        assert_eq!(normalize("!!!"), "");
    }
}
