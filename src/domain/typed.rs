//! Reading a customer's typed answer as a number or an email address: one rule for an
//! `ask` (`engine::answer`) and a submitted form's declared fields (`domain::form`).

use serde_json::{json, Value};

/// A number as people write it: "12,5" is 12.5 in much of the world; "1,000" with a
/// three-digit tail is a thousands mark. Whole numbers come back as integers.
pub fn number(text: &str) -> Option<Value> {
    let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
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
