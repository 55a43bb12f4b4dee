//! Time as an injected dependency, so the window rule, timers and retries run on a manual
//! clock in tests.

use chrono::{DateTime, Duration, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The longest duration Parley accepts anywhere a person writes one (flow steps, flow
/// tests, the simulator, the sandbox clock, the config): ten years, as humantime counts
/// them (365.25 days each, so `10y` is exactly this). Real waits are hours or days and
/// retention months; ten years leaves room for any of them while keeping every
/// `now + duration` far inside what a date can hold.
pub const LONGEST: std::time::Duration = std::time::Duration::from_secs(10 * 31_557_600);
/// [`LONGEST`] for messages.
pub const LONGEST_IN_WORDS: &str = "10 years";

/// `at + by`, never panicking. Durations a person writes are refused past [`LONGEST`] when
/// they are read, so this only matters for one that got through some other way: it
/// counts as [`LONGEST`] (a wait that long is "practically never", and a saturated time
/// stays storable and comparable), and a time past the last one a date can hold becomes
/// that last one.
pub fn later(at: DateTime<Utc>, by: std::time::Duration) -> DateTime<Utc> {
    let by = Duration::from_std(by.min(LONGEST)).expect("ten years fit in a chrono duration");
    at.checked_add_signed(by)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// To the microsecond, as both databases keep times: a time the API shows straight from
    /// the clock then reads like one read back from the database (at most 6 fractional
    /// digits: Python before 3.11 cannot read 9), and compares equal to its stored self.
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }
}

/// A clock that only moves when told to. Cheap to clone; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    micros: Arc<AtomicI64>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            micros: Arc::new(AtomicI64::new(start.timestamp_micros())),
        }
    }

    /// Moves the clock by `by` (backwards when negative), stopping at the last (or first)
    /// time a date can hold instead of wrapping round (it once landed in 1970). Durations a
    /// person writes never get near it: the parser stops them at [`LONGEST`].
    pub fn advance(&self, by: Duration) {
        let _ = self
            .micros
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |m| {
                let now = DateTime::from_timestamp_micros(m).unwrap_or_default();
                let to = now
                    .checked_add_signed(by)
                    .unwrap_or(if by < Duration::zero() {
                        DateTime::<Utc>::MIN_UTC
                    } else {
                        DateTime::<Utc>::MAX_UTC
                    });
                Some(to.timestamp_micros())
            });
    }

    pub fn set(&self, to: DateTime<Utc>) {
        self.micros.store(to.timestamp_micros(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.micros.load(Ordering::SeqCst)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;

    #[test]
    fn the_system_clock_reads_to_the_microsecond() {
        for _ in 0..100 {
            let now = SystemClock.now();
            assert_eq!(now.nanosecond() % 1_000, 0, "{now:?}");
            let text = now.to_rfc3339();
            let digits = text.split_once('.').map_or(0, |(_, rest)| {
                rest.chars().take_while(char::is_ascii_digit).count()
            });
            assert!(digits <= 6, "{text}");
        }
    }

    #[test]
    fn a_manual_clock_stops_at_the_last_date_instead_of_wrapping() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        // The clock counts microseconds: its last time is the last whole one.
        let last =
            DateTime::from_timestamp_micros(DateTime::<Utc>::MAX_UTC.timestamp_micros()).unwrap();
        let clock = ManualClock::new(start);
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), last);
        clock.advance(Duration::days(1));
        assert_eq!(clock.now(), last);
        clock.set(start);
        clock.advance(Duration::days(500_000 * 365));
        assert_eq!(clock.now(), last);
        clock.set(start);
        clock.advance(Duration::MIN);
        assert_eq!(clock.now(), DateTime::<Utc>::MIN_UTC);
        clock.set(start);
        clock.advance(Duration::hours(2));
        assert_eq!(clock.now(), start + Duration::hours(2));
    }

    #[test]
    fn later_saturates_at_the_longest_duration() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let huge = std::time::Duration::from_secs(500_000 * 31_557_600);
        assert_eq!(later(start, huge), later(start, LONGEST));
        assert_eq!(
            later(start, LONGEST),
            start + Duration::from_std(LONGEST).unwrap()
        );
        assert_eq!(
            later(DateTime::<Utc>::MAX_UTC, std::time::Duration::from_secs(1)),
            DateTime::<Utc>::MAX_UTC
        );
        assert_eq!(
            later(start, std::time::Duration::from_secs(60)),
            start + Duration::seconds(60)
        );
    }
}
