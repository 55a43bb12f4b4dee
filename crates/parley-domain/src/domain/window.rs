//! The 24-hour customer-service window as a pure function of the last inbound message's
//! provider timestamp and the current time.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowPolicy {
    /// How long after the customer's last message free-form messages are allowed (24h).
    pub duration: Duration,
    /// The window is treated as closed this long before it really closes, so a message that
    /// is still in flight does not arrive late.
    pub safety_margin: Duration,
}

impl Default for WindowPolicy {
    fn default() -> Self {
        Self {
            duration: Duration::hours(24),
            safety_margin: Duration::zero(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowState {
    pub is_open: bool,
    /// When the window closes (or closed); `None` when the customer never wrote.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whole minutes left, rounded down; 0 when closed.
    pub minutes_remaining: i64,
    pub last_inbound_at: Option<DateTime<Utc>>,
}

impl WindowPolicy {
    pub fn state(&self, last_inbound_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> WindowState {
        let Some(last) = last_inbound_at else {
            return WindowState {
                is_open: false,
                expires_at: None,
                minutes_remaining: 0,
                last_inbound_at: None,
            };
        };
        let expires_at = last + self.duration;
        let effective_close = expires_at - self.safety_margin;
        let is_open = now < effective_close;
        let minutes_remaining = if is_open {
            (effective_close - now).num_minutes()
        } else {
            0
        };
        WindowState {
            is_open,
            expires_at: Some(expires_at),
            minutes_remaining,
            last_inbound_at: Some(last),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn never_wrote_means_closed_without_expiry() {
        let s = WindowPolicy::default().state(None, at("2026-01-01T00:00:00Z"));
        assert!(!s.is_open);
        assert_eq!(s.expires_at, None);
    }

    #[test]
    fn open_until_exactly_the_duration_has_passed() {
        let p = WindowPolicy::default();
        let last = at("2026-01-01T10:00:00Z");
        let s = p.state(Some(last), at("2026-01-02T09:59:00Z"));
        assert!(s.is_open);
        assert_eq!(s.minutes_remaining, 1);
        assert_eq!(s.expires_at, Some(at("2026-01-02T10:00:00Z")));
        assert!(!p.state(Some(last), at("2026-01-02T10:00:00Z")).is_open);
        let s = p.state(Some(last), at("2026-01-01T10:15:00Z"));
        assert_eq!(s.minutes_remaining, 1425);
    }

    #[test]
    fn safety_margin_closes_early() {
        let p = WindowPolicy {
            duration: Duration::hours(24),
            safety_margin: Duration::minutes(5),
        };
        let last = at("2026-01-01T10:00:00Z");
        assert!(p.state(Some(last), at("2026-01-02T09:54:59Z")).is_open);
        assert!(!p.state(Some(last), at("2026-01-02T09:55:00Z")).is_open);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn instant(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    proptest! {
        #[test]
        fn never_open_without_an_inbound_message(now in 0i64..4_000_000_000, hours in 1i64..72) {
            let p = WindowPolicy { duration: Duration::hours(hours), safety_margin: Duration::zero() };
            let s = p.state(None, instant(now));
            prop_assert!(!s.is_open);
            prop_assert_eq!(s.expires_at, None);
            prop_assert_eq!(s.minutes_remaining, 0);
            prop_assert_eq!(s.last_inbound_at, None);
        }

        #[test]
        fn open_exactly_while_now_is_before_the_effective_close(
            last in 0i64..4_000_000_000,
            offset in -100_000i64..400_000,
            hours in 1i64..72,
            margin in 0i64..3_600,
        ) {
            let p = WindowPolicy {
                duration: Duration::hours(hours),
                safety_margin: Duration::seconds(margin),
            };
            let (last, now) = (instant(last), instant(last + offset));
            let s = p.state(Some(last), now);
            let close = last + p.duration - p.safety_margin;
            prop_assert_eq!(s.is_open, now < close);
            prop_assert_eq!(s.expires_at, Some(last + p.duration));
            prop_assert_eq!(s.last_inbound_at, Some(last));
            if s.is_open {
                prop_assert_eq!(s.minutes_remaining, (close - now).num_minutes());
                prop_assert!(s.minutes_remaining >= 0);
            } else {
                prop_assert_eq!(s.minutes_remaining, 0);
            }
        }

        #[test]
        fn a_later_inbound_message_never_closes_an_open_window(
            last in 0i64..4_000_000_000,
            later in 0i64..200_000,
            offset in 0i64..200_000,
        ) {
            let p = WindowPolicy::default();
            let now = instant(last + offset);
            if p.state(Some(instant(last)), now).is_open {
                prop_assert!(p.state(Some(instant(last + later)), now).is_open);
            }
        }
    }
}
