//! `X-Twilio-Signature` verification for form-encoded webhooks.
//!
//! Twilio signs the exact URL it called followed by every POST parameter (names sorted, each
//! name's values sorted, URL-decoded, concatenated without separators) with HMAC-SHA1 keyed
//! by the account's Auth Token. This module only answers "did Twilio send this?"; it does not
//! parse what was sent (see `webhook`) and never logs the token.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// Whether `header` is Twilio's signature of `url` and `params` under `auth_token`.
///
/// `url` must be the URL Twilio was configured to call, query string included. As in
/// twilio-python's `RequestValidator`, the URL with the default port added or removed
/// (`:443` for https, `:80` for http) is accepted too, because proxies and Twilio disagree on
/// whether it is part of the signed URL. A missing or undecodable header is never valid.
pub fn verify_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> bool {
    let Some(header) = header else {
        return false;
    };
    let Ok(expected) = BASE64.decode(header.trim()) else {
        return false;
    };
    let signed_params = signed_params(params);
    url_variants(url).iter().any(|candidate| {
        let Ok(mut mac) = HmacSha1::new_from_slice(auth_token.as_bytes()) else {
            return false;
        };
        mac.update(candidate.as_bytes());
        mac.update(signed_params.as_bytes());
        // `verify_slice` compares in constant time.
        mac.verify_slice(&expected).is_ok()
    })
}

/// Parameters as Twilio concatenates them: sorted by name then value, and (as twilio-python
/// does with `set()`) each identical name/value pair counted once.
fn signed_params(params: &[(String, String)]) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // `str` ordering is byte order, which for UTF-8 is code-point order, as in Python.
    pairs.sort_unstable();
    pairs.dedup();
    pairs.into_iter().fold(String::new(), |mut s, (k, v)| {
        s.push_str(k);
        s.push_str(v);
        s
    })
}

/// `url` as given, plus the form with its default port added or removed. Works on the string
/// rather than a parsed `Url` because re-serialising could change the signed bytes.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return variants,
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // The port follows the last ':' after any `user:pass@` and outside IPv6 brackets.
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host_port = &authority[host_start..];
    let port_sep = host_port
        .rfind(':')
        .filter(|&i| !host_port[i..].contains(']'));
    match port_sep {
        Some(i) if &host_port[i + 1..] == default_port => {
            let without = &authority[..host_start + i];
            variants.push(format!("{scheme}://{without}{tail}"));
        }
        Some(_) => {}
        None => variants.push(format!("{scheme}://{authority}:{default_port}{tail}")),
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::twilio::webhook::parse_form;

    const INBOUND_TEXT: &str = concat!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
        "/tests/fixtures/twilio/inbound_text.txt"
    );
    const TOKEN: &str = "test_auth_token";
    const URL: &str = "https://example.com/webhooks/twilio";
    const SIGNATURE: &str = "D60o3B3Ig8ML4LnbUwE5+tr6zUo=";

    fn params() -> Vec<(String, String)> {
        let body = std::fs::read(INBOUND_TEXT).expect("fixture exists");
        parse_form(&body).expect("fixture is a valid form")
    }

    #[test]
    fn worked_example_from_the_fixtures_is_accepted() {
        assert!(verify_signature(TOKEN, URL, &params(), Some(SIGNATURE)));
    }

    #[test]
    fn url_with_default_port_is_accepted_both_ways() {
        let with_port = "https://example.com:443/webhooks/twilio";
        assert!(verify_signature(
            TOKEN,
            with_port,
            &params(),
            Some(SIGNATURE)
        ));
        // Twilio signed with the port; we were configured without it.
        let signed_with_port = "cJTKWY8Zk/R9vlVkCtUFWvhWC4w=";
        assert!(verify_signature(
            TOKEN,
            URL,
            &params(),
            Some(signed_with_port)
        ));
    }

    #[test]
    fn changed_param_is_rejected() {
        let mut params = params();
        for (k, v) in params.iter_mut() {
            if k == "Body" {
                v.push('!');
            }
        }
        assert!(!verify_signature(TOKEN, URL, &params, Some(SIGNATURE)));
    }

    #[test]
    fn wrong_token_is_rejected() {
        assert!(!verify_signature(
            "other_token",
            URL,
            &params(),
            Some(SIGNATURE)
        ));
    }

    #[test]
    fn wrong_url_is_rejected() {
        let url = "https://example.com/webhooks/twilio?x=1";
        assert!(!verify_signature(TOKEN, url, &params(), Some(SIGNATURE)));
        let url = "https://example.com:8443/webhooks/twilio";
        assert!(!verify_signature(TOKEN, url, &params(), Some(SIGNATURE)));
    }

    #[test]
    fn missing_or_garbled_header_is_rejected() {
        assert!(!verify_signature(TOKEN, URL, &params(), None));
        assert!(!verify_signature(TOKEN, URL, &params(), Some("")));
        assert!(!verify_signature(
            TOKEN,
            URL,
            &params(),
            Some("not base64 at all")
        ));
    }

    #[test]
    fn default_port_variants_are_computed_on_the_string() {
        assert_eq!(
            url_variants("https://u:p@example.com/a?b=1"),
            vec![
                "https://u:p@example.com/a?b=1",
                "https://u:p@example.com:443/a?b=1"
            ]
        );
        assert_eq!(
            url_variants("http://example.com:80"),
            vec!["http://example.com:80", "http://example.com"]
        );
        assert_eq!(
            url_variants("https://[::1]:8443/x"),
            vec!["https://[::1]:8443/x"]
        );
        assert_eq!(
            url_variants("https://[::1]/x"),
            vec!["https://[::1]/x", "https://[::1]:443/x"]
        );
    }
}
