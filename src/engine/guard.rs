//! The checks a language model's answer passes before it reaches a customer (an `agent`
//! step's `guardrails`), and the masking of personal data in what Parley keeps of an
//! exchange. Pure functions: the model's text is untrusted input like any other.

use crate::domain::limits;
use crate::flows::Guardrails;
use regex::Regex;
use std::sync::LazyLock;

/// Links a customer's WhatsApp turns into something to tap: `https://…`, `www.…`, and bare
/// domains followed by a path or ending in a common top-level domain.
static LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
        (?:https?://|www\.)[^\s<>()\[\]{}]+
        | \b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,24}/[^\s<>()\[\]{}]*
        | \b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:com|net|org|io|co|info|biz|app|dev|me|ly|xyz|site|online|shop|link|click|top|ru|cn|tk|gl|to|gg|ai)\b",
    )
    .expect("the link pattern compiles")
});

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}").expect("the email pattern compiles")
});

/// Seven digits or more, possibly split by spaces, dots, dashes or brackets: phone numbers,
/// card and account numbers.
static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+?\d(?:[\s().-]?\d){6,}").expect("the number pattern compiles"));

/// `Ok` when `text` may be sent; otherwise why not, in words the model is told.
pub fn check_answer(rules: &Guardrails, text: &str) -> Result<(), String> {
    let max = rules.max_length.min(limits::TEXT_MAX);
    let length = text.chars().count();
    if length > max {
        return Err(format!(
            "it is {length} characters long; answers may be at most {max}"
        ));
    }
    for link in LINK.find_iter(text) {
        let host = host_of(link.as_str());
        if !allowed(&rules.allowed_domains, &host) {
            return Err(if rules.allowed_domains.is_empty() {
                format!("it contains a link ({host}); answers may not contain links")
            } else {
                format!(
                    "it links to {host}; links may only point to {}",
                    rules.allowed_domains.join(", ")
                )
            });
        }
    }
    for (source, re) in &rules.forbid {
        if re.is_match(text) {
            return Err(format!("it matches the forbidden pattern `{source}`"));
        }
    }
    Ok(())
}

/// The host of a link as written: `https://Shop.Acme.example/x` → `shop.acme.example`.
fn host_of(link: &str) -> String {
    let rest = link.split_once("://").map(|(_, r)| r).unwrap_or(link);
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('@')
        .next()
        .unwrap_or("");
    let host = host.split(':').next().unwrap_or("");
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `host` is one of `domains` or under one of them.
fn allowed(domains: &[String], host: &str) -> bool {
    domains.iter().any(|d| {
        let d = d.trim_start_matches('.').to_ascii_lowercase();
        host == d || host.ends_with(&format!(".{d}"))
    })
}

/// `text` with email addresses and long numbers (phones, cards, accounts) replaced by
/// `[email]` and `[number]`.
pub fn mask_personal_data(text: &str) -> String {
    let text = EMAIL.replace_all(text, "[email]");
    NUMBER.replace_all(&text, "[number]").into_owned()
}

/// `mask_personal_data` over every string in a JSON value.
pub fn mask_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => *s = mask_personal_data(s),
        serde_json::Value::Array(a) => a.iter_mut().for_each(mask_json),
        serde_json::Value::Object(o) => o.values_mut().for_each(mask_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(domains: &[&str], forbid: &[&str]) -> Guardrails {
        Guardrails {
            max_length: 200,
            allowed_domains: domains.iter().map(|d| d.to_string()).collect(),
            forbid: forbid
                .iter()
                .map(|f| (f.to_string(), Regex::new(f).unwrap()))
                .collect(),
            mask_personal_data: false,
        }
    }

    #[test]
    fn links_go_only_to_allowed_domains() {
        let r = rules(&["acme.example"], &[]);
        assert_eq!(check_answer(&r, "See https://acme.example/returns"), Ok(()));
        assert_eq!(
            check_answer(&r, "See https://help.ACME.example/x?y=1"),
            Ok(())
        );
        assert_eq!(
            check_answer(&r, "Your order A-12345 ships in 2.5 days."),
            Ok(())
        );
        for bad in [
            "Pay at https://evil.example/pay",
            "go to www.evil.com",
            "visit evil.com now",
            "log in at acme.example.evil.io/login",
            "http://user@evil.io",
            "https://acme.example@evil.io/",
        ] {
            let why = check_answer(&r, bad).unwrap_err();
            assert!(
                why.contains("links may only point to acme.example"),
                "{bad}: {why}"
            );
        }
        let none = rules(&[], &[]);
        assert!(check_answer(&none, "https://acme.example")
            .unwrap_err()
            .contains("may not contain links"));
    }

    #[test]
    fn long_answers_and_forbidden_words_are_refused() {
        let r = rules(&[], &["(?i)guarantee"]);
        assert!(check_answer(&r, &"a".repeat(201))
            .unwrap_err()
            .contains("201 characters long; answers may be at most 200"));
        assert_eq!(
            check_answer(&r, "We GUARANTEE a refund").unwrap_err(),
            "it matches the forbidden pattern `(?i)guarantee`"
        );
        let mut huge = rules(&[], &[]);
        huge.max_length = 100_000;
        assert!(check_answer(&huge, &"a".repeat(5000))
            .unwrap_err()
            .contains("at most 4096"));
    }

    #[test]
    fn personal_data_is_masked() {
        assert_eq!(
            mask_personal_data("mail ana@example.com or call +34 600 000 001, order A-12345"),
            "mail [email] or call [number], order A-12345"
        );
        let mut v = serde_json::json!({"m": ["card 4111 1111 1111 1111"]});
        mask_json(&mut v);
        assert_eq!(v, serde_json::json!({"m": ["card [number]"]}));
    }
}
