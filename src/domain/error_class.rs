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
    match code {
        Some(131047 | 63016) => return ErrorClass::WindowClosed,
        // 190: access token expired/invalid. 368: account restricted for policy violations.
        // 20003: Twilio authentication failure.
        Some(190 | 368 | 20003) => return ErrorClass::StopSender,
        // 130429: throughput limit; 131056: pair rate limit; 131000/131016: generic/service
        // unavailable; 4/80007: application/WABA rate limits; 2: temporary API error;
        // 20429/63018: Twilio rate limits.
        Some(130429 | 131056 | 131000 | 131016 | 4 | 80007 | 2 | 20429 | 63018) => {
            return ErrorClass::Retry
        }
        _ => {}
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
}
