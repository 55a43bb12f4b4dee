//! What to do about a failed send, as a pure function of the HTTP status and the provider's
//! error code: retry with backoff, fall back to a template, stop the sender, or fail.

use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Try again later with backoff: throttling, provider trouble, timeouts.
    Retry,
    /// The customer-service window is closed: run the message's fallback.
    WindowClosed,
    /// The sender's credentials or account are unusable: stop sending from it.
    StopSender,
    /// Will never succeed as it is.
    Permanent,
    /// WhatsApp's per-user marketing limit (131049): never resent at once; this recipient's
    /// marketing waits at least 24 h, on a ladder (`MARKETING_DEFER_LADDER`).
    MarketingLimited,
    /// The customer stopped marketing messages (131050): the contact is marked, marketing
    /// templates to them are suppressed, utility and service messages go on.
    MarketingStopped,
    /// This template cannot be sent to a business-scoped user id (131062, e.g.
    /// authentication templates): sent to the phone when known, else failed.
    NeedsPhone,
    /// The template is paused or disabled at the provider (132015, 132016): its live
    /// status is recorded so later sends fail before reaching the provider.
    TemplateUnavailable,
}

/// Each provider error code whose meaning changes what a bot should do, with its class and
/// the words shown to operators. Codes not listed are classified by HTTP status.
/// Meta: developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes
/// (updated 2026-05-15); Twilio: twilio.com/docs/api/errors.
pub const CODES: &[(i64, ErrorClass, &str)] = &[
    // Closed customer-service window.
    (
        131047,
        ErrorClass::WindowClosed,
        "re-engagement message: more than 24 hours since the customer last wrote",
    ),
    (
        63016,
        ErrorClass::WindowClosed,
        "Twilio: outside the 24-hour window, a template is needed",
    ),
    // Credentials or account.
    (0, ErrorClass::StopSender, "authentication exception"),
    (10, ErrorClass::StopSender, "permission denied"),
    (
        190,
        ErrorClass::StopSender,
        "access token expired or invalid",
    ),
    (200, ErrorClass::StopSender, "permission missing"),
    (
        368,
        ErrorClass::StopSender,
        "temporarily blocked for policy violations",
    ),
    (131031, ErrorClass::StopSender, "business account locked"),
    (
        131042,
        ErrorClass::StopSender,
        "business eligibility: payment issue",
    ),
    (
        133010,
        ErrorClass::StopSender,
        "phone number not registered on the Cloud API",
    ),
    (
        20003,
        ErrorClass::StopSender,
        "Twilio: authentication failed",
    ),
    // Transient: throttling, provider trouble, maintenance.
    (1, ErrorClass::Retry, "unknown API error"),
    (2, ErrorClass::Retry, "API service temporarily unavailable"),
    (4, ErrorClass::Retry, "application request limit reached"),
    (
        80007,
        ErrorClass::Retry,
        "WhatsApp Business Account rate limit reached",
    ),
    (130429, ErrorClass::Retry, "Cloud API throughput reached"),
    (
        131000,
        ErrorClass::Retry,
        "something went wrong at the provider",
    ),
    (131016, ErrorClass::Retry, "service unavailable"),
    (
        131048,
        ErrorClass::Retry,
        "spam rate limit: too many messages were blocked or flagged",
    ),
    (
        131056,
        ErrorClass::Retry,
        "too many messages to this customer in a short time (pair rate limit)",
    ),
    (
        131057,
        ErrorClass::Retry,
        "business account in maintenance mode",
    ),
    (133004, ErrorClass::Retry, "server temporarily unavailable"),
    (20429, ErrorClass::Retry, "Twilio: too many requests"),
    (
        63018,
        ErrorClass::Retry,
        "Twilio: rate limit exceeded for the sender",
    ),
    // Marketing limits and preferences (2025–26).
    (
        131049,
        ErrorClass::MarketingLimited,
        "not delivered to keep the customer's experience healthy (per-user marketing limit)",
    ),
    (
        63049,
        ErrorClass::MarketingLimited,
        "Twilio: Meta chose not to deliver this marketing message",
    ),
    (
        131050,
        ErrorClass::MarketingStopped,
        "the customer stopped marketing messages from this business",
    ),
    // Business-scoped user ids.
    (
        131062,
        ErrorClass::NeedsPhone,
        "this template cannot be sent to a business-scoped user id",
    ),
    // Templates that changed at the provider.
    (
        132015,
        ErrorClass::TemplateUnavailable,
        "template paused for low quality",
    ),
    (
        132016,
        ErrorClass::TemplateUnavailable,
        "template disabled for low quality",
    ),
    // Permanent for this message, with a reason worth naming.
    (
        130472,
        ErrorClass::Permanent,
        "the customer is part of a WhatsApp experiment and was not sent this message",
    ),
    (
        131021,
        ErrorClass::Permanent,
        "recipient cannot be the sender",
    ),
    (
        131026,
        ErrorClass::Permanent,
        "message undeliverable (not on WhatsApp, old app, or terms not accepted)",
    ),
    (131051, ErrorClass::Permanent, "unsupported message type"),
    (
        132000,
        ErrorClass::Permanent,
        "template parameter count does not match",
    ),
    (
        132001,
        ErrorClass::Permanent,
        "template does not exist in this language or is not approved",
    ),
    (
        138006,
        ErrorClass::Permanent,
        "no call permission from this customer",
    ),
    // Conversation routing (2026): thread control on a shared number.
    (
        138038,
        ErrorClass::Permanent,
        "conversation routing: calls on this number have their own primary app; thread control does not move them",
    ),
    (
        2494191,
        ErrorClass::Permanent,
        "conversation routing: this thread-control action is not permitted (not the thread's owner, or not the escalation partner for a take)",
    ),
];

/// The class and words of a listed provider error code.
pub fn code_info(code: i64) -> Option<(ErrorClass, &'static str)> {
    CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, class, words)| (*class, *words))
}

/// How long a recipient's marketing waits after each 131049, in hours: the first deferral
/// waits a day, then two, then four; after the last, the message fails with the reason.
pub const MARKETING_DEFER_LADDER_HOURS: [i64; 3] = [24, 48, 96];

/// The wait before the `deferrals`-th resend of a marketing message WhatsApp held back
/// (0-based), or `None` once the ladder is spent.
pub fn marketing_deferral(deferrals: u32) -> Option<std::time::Duration> {
    MARKETING_DEFER_LADDER_HOURS
        .get(deferrals as usize)
        .map(|h| std::time::Duration::from_secs(*h as u64 * 3600))
}

/// A send that did not succeed, as the channel saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    pub class: ErrorClass,
    pub http_status: Option<u16>,
    /// Provider error code (Meta `error.code`, Twilio `code`); `None` for transport errors.
    pub code: Option<i64>,
    pub title: String,
    pub retry_after: Option<Duration>,
    /// The request may have reached the provider (a timeout, a connection lost after the
    /// request was written): the message may have been accepted.
    pub outcome_unknown: bool,
}

impl SendFailure {
    pub fn new(http_status: Option<u16>, code: Option<i64>, title: impl Into<String>) -> Self {
        Self {
            class: classify(http_status, code),
            http_status,
            code,
            title: title.into(),
            retry_after: None,
            outcome_unknown: false,
        }
    }

    /// No answer, but the request may have been delivered: retried only after waiting for
    /// a status webhook that would show it was accepted.
    pub fn unknown_outcome(title: impl Into<String>) -> Self {
        Self {
            outcome_unknown: true,
            ..Self::transport(title)
        }
    }

    /// A network error or timeout before any answer came back.
    pub fn transport(title: impl Into<String>) -> Self {
        Self::new(None, None, title)
    }

    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }
}

/// Meta: 131047 re-engagement; Twilio: 63016 outside the window.
pub const WINDOW_CLOSED_CODES: [i64; 2] = [131047, 63016];

pub fn classify(http_status: Option<u16>, code: Option<i64>) -> ErrorClass {
    if let Some((class, _)) = code.and_then(code_info) {
        return class;
    }
    match http_status {
        None => ErrorClass::Retry,
        Some(429) => ErrorClass::Retry,
        Some(408) => ErrorClass::Retry,
        Some(s) if s >= 500 => ErrorClass::Retry,
        Some(401) if code.is_none() => ErrorClass::StopSender,
        _ => ErrorClass::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_codes_named_in_the_design() {
        assert_eq!(classify(Some(400), Some(131047)), ErrorClass::WindowClosed);
        assert_eq!(classify(Some(400), Some(63016)), ErrorClass::WindowClosed);
        assert_eq!(classify(Some(401), Some(190)), ErrorClass::StopSender);
        assert_eq!(classify(Some(400), Some(368)), ErrorClass::StopSender);
        assert_eq!(classify(Some(400), Some(130429)), ErrorClass::Retry);
        assert_eq!(classify(Some(400), Some(131056)), ErrorClass::Retry);
        assert_eq!(classify(Some(429), None), ErrorClass::Retry);
        assert_eq!(classify(Some(503), None), ErrorClass::Retry);
        assert_eq!(classify(None, None), ErrorClass::Retry);
        assert_eq!(classify(Some(400), Some(131026)), ErrorClass::Permanent);
        assert_eq!(classify(Some(400), Some(100)), ErrorClass::Permanent);
    }

    #[test]
    fn classifies_the_codes_of_2025_and_2026() {
        assert_eq!(
            classify(Some(400), Some(131049)),
            ErrorClass::MarketingLimited
        );
        assert_eq!(
            classify(Some(400), Some(131050)),
            ErrorClass::MarketingStopped
        );
        assert_eq!(classify(Some(400), Some(131062)), ErrorClass::NeedsPhone);
        assert_eq!(classify(Some(400), Some(131057)), ErrorClass::Retry);
        assert_eq!(classify(Some(400), Some(130472)), ErrorClass::Permanent);
        assert_eq!(classify(Some(400), Some(138006)), ErrorClass::Permanent);
        assert_eq!(classify(Some(400), Some(138038)), ErrorClass::Permanent);
        assert_eq!(classify(Some(400), Some(2494191)), ErrorClass::Permanent);
        assert_eq!(
            classify(Some(400), Some(132015)),
            ErrorClass::TemplateUnavailable
        );
        assert_eq!(
            classify(Some(400), Some(132016)),
            ErrorClass::TemplateUnavailable
        );
        // A listed code decides even when the HTTP status alone would say otherwise.
        assert_eq!(classify(Some(500), Some(130472)), ErrorClass::Permanent);
    }

    #[test]
    fn the_code_table_lists_each_code_once_with_words() {
        let mut seen = std::collections::HashSet::new();
        for (code, _, words) in CODES {
            assert!(seen.insert(code), "{code} is listed twice");
            assert!(!words.is_empty());
        }
        for code in WINDOW_CLOSED_CODES {
            assert_eq!(code_info(code).map(|c| c.0), Some(ErrorClass::WindowClosed));
        }
    }

    #[test]
    fn marketing_deferrals_climb_a_ladder_of_at_least_a_day_then_stop() {
        let hours = |n| marketing_deferral(n).map(|d| d.as_secs() / 3600);
        assert_eq!(hours(0), Some(24));
        assert_eq!(hours(1), Some(48));
        assert_eq!(hours(2), Some(96));
        assert_eq!(hours(3), None);
        assert!(MARKETING_DEFER_LADDER_HOURS.iter().all(|h| *h >= 24));
    }
}
