//! When a failed delivery is tried again: the endpoint's schedule of delays (Svix's by
//! default: 5s, 5m, 30m, 2h, 5h, 10h, 10h), each moved by up to ±`jitter` so that retries
//! of many events spread out; after the last delay, the delivery is parked.

use chrono::{DateTime, Utc};
use rand::Rng;
use std::time::Duration;

/// The time of the next attempt after `attempts` failed ones (this one included), or
/// `None`: park it.
pub fn next_attempt(
    schedule: &[Duration],
    jitter: f64,
    attempts: u32,
    now: DateTime<Utc>,
    rng: &mut impl Rng,
) -> Option<DateTime<Utc>> {
    let delay = *schedule.get(attempts.checked_sub(1)? as usize)?;
    let jitter = jitter.clamp(0.0, 1.0);
    let factor = if jitter > 0.0 {
        1.0 + rng.random_range(-jitter..=jitter)
    } else {
        1.0
    };
    let delay = delay.mul_f64(factor);
    Some(crate::domain::clock::later(now, delay))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn schedule() -> Vec<Duration> {
        crate::config::EventRetryConfig::default().schedule
    }

    #[test]
    fn each_retry_waits_its_delay_within_the_jitter_then_parks() {
        let now = chrono::Utc::now();
        let mut rng = StdRng::seed_from_u64(7);
        let s = schedule();
        for (i, delay) in s.iter().enumerate() {
            for _ in 0..50 {
                let at = next_attempt(&s, 0.2, i as u32 + 1, now, &mut rng).unwrap();
                let waited = (at - now).to_std().unwrap();
                assert!(
                    waited >= delay.mul_f64(0.8) && waited <= delay.mul_f64(1.2),
                    "{i}: {waited:?}"
                );
            }
        }
        assert_eq!(
            next_attempt(&s, 0.2, s.len() as u32 + 1, now, &mut rng),
            None
        );
        assert_eq!(next_attempt(&[], 0.2, 1, now, &mut rng), None);
    }

    #[test]
    fn jitter_spreads_retries_and_none_keeps_the_delay() {
        let now = chrono::Utc::now();
        let mut rng = StdRng::seed_from_u64(1);
        let s = [Duration::from_secs(100)];
        let times: std::collections::HashSet<_> = (0..20)
            .map(|_| next_attempt(&s, 0.2, 1, now, &mut rng).unwrap())
            .collect();
        assert!(times.len() > 10);
        let exact = next_attempt(&s, 0.0, 1, now, &mut rng).unwrap();
        assert_eq!(exact - now, chrono::Duration::seconds(100));
    }
}
