//! The two checks that guard Meta's webhook endpoint: the `X-Hub-Signature-256` HMAC on every
//! POST, and the `hub.*` handshake Meta makes with a GET when the webhook is subscribed.
//!
//! Both compare secrets in constant time. Neither parses the body: the signature is over the
//! raw bytes exactly as received, so it must be checked before any JSON is touched.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Whether `header` (the `X-Hub-Signature-256` value, `sha256=<hex>`) is the HMAC-SHA256 of
/// `body` keyed with the app secret. A missing header, a missing `sha256=` prefix or bad hex
/// is simply a mismatch.
pub fn verify_signature(app_secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_digest) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Meta's subscribe handshake (`GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`):
/// the challenge to echo back when the mode is `subscribe` and the token is one of ours,
/// otherwise `None`. Several senders may share one webhook URL, so any configured token
/// matches; every token is compared so the time taken does not reveal which one was close.
pub fn verify_handshake(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&str>,
    verify_tokens: &[&str],
) -> Option<String> {
    if mode != Some("subscribe") {
        return None;
    }
    let token = token.filter(|t| !t.is_empty())?;
    let challenge = challenge.filter(|c| !c.is_empty())?;
    let matched = verify_tokens
        .iter()
        .filter(|configured| !configured.is_empty())
        .fold(subtle::Choice::from(0), |acc, configured| {
            acc | configured.as_bytes().ct_eq(token.as_bytes())
        });
    bool::from(matched).then(|| challenge.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "test_app_secret";
    const WITH_LF: &str = "sha256=68e90f03ca29c9a93658af5bc25a8017e2f37bf6b07128ea6de4793100ddca28";
    const WITHOUT_LF: &str =
        "sha256=952ed66aa048df9cb5d3959328a17c1f32ec47f92407008ea0d333b7452fd295";
    const COMPACT: &str = "sha256=d41a188d8619c3d56b4ded1b0269981a0ddc0ab8b6481ab5acf580fcb28ebb7a";

    fn text_fixture() -> Vec<u8> {
        std::fs::read(concat!(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
            "/tests/fixtures/meta/text.json"
        ))
        .expect("fixture text.json")
    }

    /// The compact one-line body from `signature.txt`, as Meta really sends it.
    fn compact_wire_body() -> String {
        let doc = std::fs::read_to_string(concat!(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
            "/tests/fixtures/meta/signature.txt"
        ))
        .expect("fixture signature.txt");
        doc.lines()
            .find(|line| line.starts_with("{\"object\""))
            .expect("signature.txt holds a compact body")
            .to_string()
    }

    #[test]
    fn accepts_the_worked_example_over_the_file_bytes() {
        let body = text_fixture();
        assert_eq!(body.last(), Some(&b'\n'));
        assert!(verify_signature(SECRET, &body, Some(WITH_LF)));
    }

    #[test]
    fn accepts_the_worked_example_without_the_trailing_newline() {
        let body = text_fixture();
        assert!(verify_signature(
            SECRET,
            &body[..body.len() - 1],
            Some(WITHOUT_LF)
        ));
    }

    #[test]
    fn accepts_the_compact_body_meta_puts_on_the_wire() {
        let body = compact_wire_body();
        assert_eq!(body.len(), 503);
        assert!(verify_signature(SECRET, body.as_bytes(), Some(COMPACT)));
    }

    #[test]
    fn signature_over_reserialised_json_does_not_match() {
        // Same JSON value as the compact body, different bytes.
        assert!(!verify_signature(SECRET, &text_fixture(), Some(COMPACT)));
    }

    #[test]
    fn rejects_a_body_with_one_byte_changed() {
        let mut body = text_fixture();
        body[100] ^= 0x01;
        assert!(!verify_signature(SECRET, &body, Some(WITH_LF)));
    }

    #[test]
    fn rejects_the_wrong_secret() {
        assert!(!verify_signature(
            "another_secret",
            &text_fixture(),
            Some(WITH_LF)
        ));
    }

    #[test]
    fn rejects_missing_or_malformed_headers() {
        let body = text_fixture();
        let bare_hex = WITH_LF.trim_start_matches("sha256=");
        let not_hex = format!("sha256={}", "zz".repeat(32));
        let short = &WITH_LF[..WITH_LF.len() - 2];
        for header in [
            None,
            Some(""),
            Some("sha256="),
            Some(bare_hex),
            Some(&not_hex),
            Some(short),
        ] {
            assert!(!verify_signature(SECRET, &body, header), "{header:?}");
        }
        let sha1_style = format!("sha1={bare_hex}");
        assert!(!verify_signature(SECRET, &body, Some(&sha1_style)));
    }

    #[test]
    fn handshake_echoes_the_challenge_for_a_configured_token() {
        let tokens = ["first-token", "second-token"];
        let echo = verify_handshake(
            Some("subscribe"),
            Some("second-token"),
            Some("1158201444"),
            &tokens,
        );
        assert_eq!(echo.as_deref(), Some("1158201444"));
    }

    #[test]
    fn handshake_refuses_wrong_mode_token_or_missing_parts() {
        let tokens = ["first-token"];
        let cases = [
            (Some("unsubscribe"), Some("first-token"), Some("42")),
            (None, Some("first-token"), Some("42")),
            (Some("subscribe"), Some("first-tokeN"), Some("42")),
            (Some("subscribe"), Some("first-token-and-more"), Some("42")),
            (Some("subscribe"), None, Some("42")),
            (Some("subscribe"), Some(""), Some("42")),
            (Some("subscribe"), Some("first-token"), None),
        ];
        for (mode, token, challenge) in cases {
            assert_eq!(
                verify_handshake(mode, token, challenge, &tokens),
                None,
                "{mode:?} {token:?} {challenge:?}"
            );
        }
        assert_eq!(
            verify_handshake(Some("subscribe"), Some(""), Some("42"), &[""]),
            None
        );
    }
}
