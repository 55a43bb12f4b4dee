//! Reading a customer's typed answer as a number or an email address: one rule for an
//! `ask` (`engine::answer`) and a submitted form's declared fields (`domain::form`).

use serde_json::{json, Value};

/// A number as people write it: "12,5" is 12.5 in much of the world; "1,000" with a
/// three-digit tail is a thousands mark. Whole numbers come back as integers.
/// Digits of other scripts count as theirs: Arabic-Indic `٤٢` and Persian `۴۲` are 42, as
/// are full-width `４２` and Devanagari `४२`.
pub fn number(text: &str) -> Option<Value> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(ascii_digit)
        .collect();
    let cleaned = match cleaned.split_once(',') {
        Some((a, b)) if b.len() == 3 && !cleaned.contains('.') && !b.contains(',') => {
            format!("{a}{b}")
        }
        Some((a, b)) if !b.contains(',') && !cleaned.contains('.') => format!("{a}.{b}"),
        _ => cleaned,
    };
    let n: f64 = cleaned.parse().ok().filter(|n: &f64| n.is_finite())?;
    if n.fract() == 0.0 && n.abs() < 9e15 {
        Some(json!(n as i64))
    } else {
        Some(json!(n))
    }
}

/// The zero of each run of ten decimal digits that phones' keyboards type: Arabic-Indic,
/// Extended Arabic-Indic (Persian, Urdu), N'Ko, Devanagari, Bengali, Gurmukhi, Gujarati,
/// Oriya, Tamil, Telugu, Kannada, Malayalam, Thai, Lao, Tibetan, Myanmar, Khmer,
/// Mongolian, full-width.
const DIGIT_ZEROS: [u32; 19] = [
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x17E0, 0x1810, 0xFF10,
];

/// `c` as an ASCII digit or mark when it is a digit of another script, the Arabic decimal
/// and thousands separators, or a full-width `.`, `,`, `-` or `+`; otherwise `c`.
fn ascii_digit(c: char) -> char {
    let code = c as u32;
    if let Some(zero) = DIGIT_ZEROS.iter().find(|&&z| (z..z + 10).contains(&code)) {
        return char::from(b'0' + (code - zero) as u8);
    }
    match c {
        '\u{066B}' | '\u{FF0E}' => '.',
        '\u{066C}' | '\u{FF0C}' => ',',
        '\u{FF0D}' | '\u{2212}' => '-',
        '\u{FF0B}' => '+',
        _ => c,
    }
}

/// An email address, lowercased: something before one `@`, a domain with a dot inside it,
/// no spaces, at most 254 characters.
pub fn email(text: &str) -> Option<String> {
    let ok = text.len() <= 254
        && text.split_once('@').is_some_and(|(user, domain)| {
            !user.is_empty()
                && !domain.starts_with('.')
                && domain.contains('.')
                && !domain.ends_with('.')
                && !text.chars().any(char::is_whitespace)
                && !domain.contains('@')
        });
    ok.then(|| text.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Customers type numbers with their own script's digits; each is the number it shows.
    #[test]
    fn digits_of_other_scripts_are_numbers() {
        for (typed, want) in [
            ("٤٢", json!(42)),
            ("۴۲", json!(42)),
            ("４２", json!(42)),
            ("४२", json!(42)),
            ("๔๒", json!(42)),
            ("١٢٫٥", json!(12.5)),
            ("١٬٠٠٠", json!(1000)),
            ("－３", json!(-3)),
            ("12,5", json!(12.5)),
        ] {
            assert_eq!(number(typed), Some(want), "{typed}");
        }
        for not_a_number in ["٤x", "forty", "", "۴۲abc"] {
            assert_eq!(number(not_a_number), None, "{not_a_number}");
        }
    }
}
