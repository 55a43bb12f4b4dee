//! The retry schedule as data: exponential backoff with jitter, capped, honouring the
//! provider's `Retry-After`, with a limit on attempts and total age.

use crate::config::RetryConfig;
use chrono::{DateTime, Utc};
use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    RetryAt(DateTime<Utc>),
    GiveUp,
}

/// `attempts` is how many tries failed so far, including the one that just failed.
pub fn decide(
    cfg: &RetryConfig,
    attempts: u32,
    first_enqueued: DateTime<Utc>,
    now: DateTime<Utc>,
    retry_after: Option<Duration>,
    rng: &mut impl Rng,
) -> RetryDecision {
    if attempts >= cfg.max_attempts {
        return RetryDecision::GiveUp;
    }
    let delay = backoff(cfg, attempts, retry_after, rng);
    let at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
    let age_limit = first_enqueued
        + chrono::Duration::from_std(cfg.give_up_after).unwrap_or(chrono::Duration::MAX);
    if at > age_limit {
        RetryDecision::GiveUp
    } else {
        RetryDecision::RetryAt(at)
    }
}

/// Equal jitter: half the exponential delay fixed, half random, so retries of many
/// messages spread out but never come back immediately.
pub fn backoff(
    cfg: &RetryConfig,
    attempts: u32,
    retry_after: Option<Duration>,
    rng: &mut impl Rng,
) -> Duration {
    let exp = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
    let base = cfg.initial.saturating_mul(exp).min(cfg.max_delay);
    let half = base / 2;
    let jitter =
        Duration::from_micros(rng.random_range(0..=half.as_micros().min(u64::MAX as u128) as u64));
    let delay = half + jitter;
    match retry_after {
        Some(ra) if ra > delay => ra.min(cfg.max_delay.max(ra)),
        _ => delay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn cfg() -> RetryConfig {
        RetryConfig {
            initial: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_attempts: 5,
            give_up_after: Duration::from_secs(3600),
        }
    }

    #[test]
    fn backoff_grows_within_bounds() {
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 1..12 {
            let d = backoff(&cfg(), attempt, None, &mut rng);
            let full =
                (Duration::from_millis(500) * 2u32.pow(attempt - 1)).min(Duration::from_secs(60));
            assert!(
                d >= full / 2 && d <= full,
                "attempt {attempt}: {d:?} vs {full:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(
            backoff(&cfg(), 1, Some(Duration::from_secs(7)), &mut rng),
            Duration::from_secs(7)
        );
    }

    #[test]
    fn gives_up_after_max_attempts_or_age() {
        let mut rng = StdRng::seed_from_u64(1);
        let t0 = Utc::now();
        assert_eq!(
            decide(&cfg(), 5, t0, t0, None, &mut rng),
            RetryDecision::GiveUp
        );
        assert!(matches!(
            decide(&cfg(), 1, t0, t0, None, &mut rng),
            RetryDecision::RetryAt(_)
        ));
        let late = t0 + chrono::Duration::seconds(3600);
        assert_eq!(
            decide(&cfg(), 2, t0, late, None, &mut rng),
            RetryDecision::GiveUp
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn config(initial_ms: u64, max_ms: u64, max_attempts: u32, give_up_s: u64) -> RetryConfig {
        RetryConfig {
            initial: Duration::from_millis(initial_ms),
            max_delay: Duration::from_millis(max_ms),
            max_attempts,
            give_up_after: Duration::from_secs(give_up_s),
        }
    }

    /// The exponential delay before jitter: `initial · 2^(attempts-1)`, capped.
    fn full(cfg: &RetryConfig, attempts: u32) -> Duration {
        let exp = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
        cfg.initial.saturating_mul(exp).min(cfg.max_delay)
    }

    proptest! {
        #[test]
        fn delays_stay_between_half_and_the_whole_capped_exponential(
            initial in 1u64..5_000,
            max in 1u64..600_000,
            attempts in 1u32..64,
            seed in any::<u64>(),
        ) {
            let cfg = config(initial, max, 10, 3600);
            let d = backoff(&cfg, attempts, None, &mut StdRng::seed_from_u64(seed));
            let full = full(&cfg, attempts);
            prop_assert!(d >= full / 2 && d <= full, "{d:?} vs {full:?}");
            prop_assert!(d <= cfg.max_delay);
            // Never below half the base delay (the first retry's), whatever the attempt.
            prop_assert!(d >= cfg.initial.min(cfg.max_delay) / 2);
        }

        #[test]
        fn retry_after_is_a_floor_and_otherwise_changes_nothing(
            initial in 1u64..5_000,
            max in 1u64..600_000,
            attempts in 1u32..20,
            retry_after_ms in 0u64..1_000_000,
            seed in any::<u64>(),
        ) {
            let cfg = config(initial, max, 10, 3600);
            let ra = Duration::from_millis(retry_after_ms);
            let plain = backoff(&cfg, attempts, None, &mut StdRng::seed_from_u64(seed));
            let with = backoff(&cfg, attempts, Some(ra), &mut StdRng::seed_from_u64(seed));
            prop_assert!(with >= ra);
            prop_assert_eq!(with, plain.max(ra));
        }

        #[test]
        fn gives_up_at_max_attempts_and_never_schedules_past_the_age_limit(
            max_attempts in 1u32..10,
            attempts in 0u32..20,
            age_s in 0i64..7_200,
            give_up_s in 1u64..3_600,
            retry_after_ms in proptest::option::of(0u64..100_000),
            seed in any::<u64>(),
        ) {
            let cfg = config(500, 60_000, max_attempts, give_up_s);
            let first = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
            let now = first + chrono::Duration::seconds(age_s);
            let ra = retry_after_ms.map(Duration::from_millis);
            let decision = decide(&cfg, attempts, first, now, ra, &mut StdRng::seed_from_u64(seed));
            let limit = first + chrono::Duration::from_std(cfg.give_up_after).unwrap();
            match decision {
                RetryDecision::GiveUp => {
                    let delay = backoff(&cfg, attempts, ra, &mut StdRng::seed_from_u64(seed));
                    let at = now + chrono::Duration::from_std(delay).unwrap();
                    prop_assert!(attempts >= max_attempts || at > limit);
                }
                RetryDecision::RetryAt(at) => {
                    prop_assert!(attempts < max_attempts);
                    prop_assert!(at <= limit);
                    prop_assert!(at >= now + chrono::Duration::from_std(full(&cfg, attempts) / 2).unwrap());
                    if let Some(ra) = ra {
                        prop_assert!(at >= now + chrono::Duration::from_std(ra).unwrap());
                    }
                }
            }
        }
    }
}
