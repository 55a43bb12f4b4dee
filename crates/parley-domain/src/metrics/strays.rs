//! Stray webhooks: items for a number no configured sender has. With cells (groups of
//! numbers, each with its own processes and database) this is a number whose webhooks
//! Meta sends to the wrong cell, so the count names the number (`number`: Meta's
//! `phone_number_id`, or the Twilio business number) for the operator to find and re-point.
//!
//! The label comes from a verified webhook, yet its values stay bounded: a value that is
//! not shaped like a number, and every number past the first [`MAX_NUMBERS`] this process
//! has counted, are counted as `other`.

use super::WEBHOOKS_UNKNOWN_SENDER;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// Distinct numbers a process labels before counting the rest as `other`.
pub const MAX_NUMBERS: usize = 100;

/// Meta's ids are 15 to 17 digits; an E.164 number is at most 15 digits after the `+`.
const MAX_LEN: usize = 24;

/// Counts one webhook item for a number no configured sender has (or signed with the
/// secret of another sender than the number's), by `provider` and `number`.
pub fn webhook_for_unknown_number(provider: &'static str, number: &str) {
    // Only stray webhooks come here, never the hot path of a configured number.
    static SEEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let label = {
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        number_label(&mut seen, MAX_NUMBERS, number)
    };
    metrics::counter!(WEBHOOKS_UNKNOWN_SENDER, "provider" => provider, "number" => label)
        .increment(1);
}

/// The `number` label of `number`: itself when it is shaped like a number (digits, with a
/// leading `+` for Twilio) and either already labelled or among the first `cap`, else
/// `other`.
fn number_label(seen: &mut BTreeSet<String>, cap: usize, number: &str) -> String {
    let digits = number.strip_prefix('+').unwrap_or(number);
    let shaped =
        !digits.is_empty() && number.len() <= MAX_LEN && digits.bytes().all(|b| b.is_ascii_digit());
    if !shaped {
        return "other".into();
    }
    if seen.contains(number) || seen.len() < cap {
        seen.insert(number.to_string());
        return number.to_string();
    }
    "other".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_is_its_own_label_until_the_cap_then_other() {
        let mut seen = BTreeSet::new();
        assert_eq!(
            number_label(&mut seen, 2, "106540352242922"),
            "106540352242922"
        );
        assert_eq!(number_label(&mut seen, 2, "+15550783881"), "+15550783881");
        assert_eq!(number_label(&mut seen, 2, "222222222222222"), "other");
        // One already labelled keeps its label after the cap is reached.
        assert_eq!(
            number_label(&mut seen, 2, "106540352242922"),
            "106540352242922"
        );
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn what_is_not_shaped_like_a_number_is_other_and_takes_no_room() {
        let mut seen = BTreeSet::new();
        for odd in ["", "+", "12a4", "1 2", "{{x}}", &"9".repeat(MAX_LEN + 1)] {
            assert_eq!(number_label(&mut seen, 10, odd), "other", "{odd:?}");
        }
        assert!(seen.is_empty());
    }
}
