//! A sender's pace (`senders[].messages_per_second`): no second carries more sends than
//! the rate, and replies to customers who are talking now go before bulk sends
//! (broadcasts, scheduled re-engagement, anything to a customer who is not in a
//! conversation with the business right now).
//!
//! Three rules, each for a reason seen from outside:
//!
//! - **Spaced, not bursty.** Each send takes the next slot, `1/rate` after the one before
//!   (or now, after a pause). A token bucket as deep as the rate let twice the rate out in
//!   the first second after any idle second (40 sends in the first second at 20/s), which
//!   invites Meta's 130429.
//! - **A ceiling per second.** A send also waits until fewer than `rate` sends were taken in
//!   the last second, measured when each was taken: a task that woke late from its slot
//!   cannot bunch with the ones after it and make a second carry one more.
//! - **Live first.** Bulk sends queue for the right to reserve a slot, one at a time, and
//!   hold it until their slot has come; a live send reserves at once. So a reply waits for
//!   at most the one bulk send already reserved and the live ones before it, not behind
//!   every bulk send that was claimed: the broadcast takes what the replies leave.
//!
//! Per process: several processes sharing one sender each pace at the configured rate.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Which line a send waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// A reply to a customer who wrote recently.
    Live,
    /// Broadcasts, scheduled sends, sends to customers who are not talking now.
    Bulk,
}

/// Rates above this are not held to the per-second ceiling (which keeps one instant per
/// send of the last second): the spacing alone keeps them, to within a send or two.
const CEILING_MAX_RATE: u32 = 1_000;

const SECOND: Duration = Duration::from_secs(1);

/// Tokio's timer counts whole milliseconds: a slot nearer than this is not slept for (a
/// sleep would end a millisecond later, and at 100,000 sends a second one bulk send
/// sleeping at a time would cap the rate at 1,000).
const TIMER_GRAIN: Duration = Duration::from_millis(1);

pub struct Pacer {
    rate: u32,
    period: Duration,
    state: Mutex<State>,
    /// Held by the one bulk send that may reserve now, until its slot has come.
    bulk: tokio::sync::Mutex<()>,
}

struct State {
    /// The earliest slot not reserved yet.
    next: Instant,
    /// When the sends of the last second were taken (the ceiling), oldest first.
    recent: VecDeque<Instant>,
}

impl Pacer {
    pub fn new(per_second: NonZeroU32) -> Self {
        let rate = per_second.get();
        Self {
            rate,
            period: SECOND / rate,
            state: Mutex::new(State {
                next: Instant::now(),
                recent: VecDeque::with_capacity(rate.min(CEILING_MAX_RATE) as usize),
            }),
            bulk: tokio::sync::Mutex::new(()),
        }
    }

    /// Waits until a send in `lane` may go now.
    pub async fn wait(&self, lane: Lane) {
        let _turn = match lane {
            Lane::Bulk => Some(self.bulk.lock().await),
            Lane::Live => None,
        };
        let slot = self.reserve();
        if slot > Instant::now() + TIMER_GRAIN {
            tokio::time::sleep_until(slot).await;
        }
        while let Some(until) = self.take() {
            tokio::time::sleep_until(until).await;
        }
    }

    /// The next free slot, now reserved.
    fn reserve(&self) -> Instant {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let slot = state.next.max(Instant::now());
        state.next = slot + self.period;
        slot
    }

    /// Takes the send's place in the last second, or says until when it must wait.
    fn take(&self) -> Option<Instant> {
        if self.rate > CEILING_MAX_RATE {
            return None;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if state.recent.len() >= self.rate as usize {
            let oldest = state.recent[0];
            if oldest + SECOND > now {
                return Some(oldest + SECOND);
            }
            state.recent.pop_front();
        }
        state.recent.push_back(now);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn pacer(rate: u32) -> Arc<Pacer> {
        Arc::new(Pacer::new(NonZeroU32::new(rate).unwrap()))
    }

    /// When each of `n` sends in `lane`, started together, was let go.
    async fn times(p: &Arc<Pacer>, n: usize, lane: Lane) -> Vec<Instant> {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move {
                    p.wait(lane).await;
                    Instant::now()
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out.sort();
        out
    }

    /// The most sends any one-second window holds.
    fn busiest_second(times: &[Instant]) -> usize {
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| **t < times[i] + SECOND)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn no_second_carries_more_than_the_rate_even_after_a_pause() {
        let p = pacer(20);
        let first = times(&p, 60, Lane::Bulk).await;
        assert_eq!(busiest_second(&first), 20);
        let start = first[0];
        assert_eq!(
            first.iter().filter(|t| **t < start + SECOND).count(),
            20,
            "the first second after a pause"
        );
        assert!(
            first
                .iter()
                .filter(|t| **t < start + Duration::from_millis(100))
                .count()
                <= 2
        );
        // Three seconds for sixty: the rate is used, not wasted.
        assert!(
            first[59] - start < Duration::from_millis(3_000),
            "{:?}",
            first[59] - start
        );
        // Idle, then again: no burst of the idle second's unused sends.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let again = times(&p, 40, Lane::Live).await;
        assert_eq!(busiest_second(&again), 20);
    }

    #[tokio::test(start_paused = true)]
    async fn a_live_send_overtakes_the_bulk_ones_waiting() {
        let p = pacer(10);
        let bulk: Vec<_> = (0..30)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move {
                    p.wait(Lane::Bulk).await;
                    Instant::now()
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1_050)).await;
        let asked = Instant::now();
        p.wait(Lane::Live).await;
        let waited = Instant::now() - asked;
        // At most the bulk send already holding its slot, then this one: two periods.
        assert!(waited <= Duration::from_millis(200), "{waited:?}");
        let mut done = Vec::new();
        for b in bulk {
            done.push(b.await.unwrap());
        }
        // The bulk sends still got the rest of the pace: thirty in about three seconds
        // and one slot.
        done.sort();
        assert!(done[29] - done[0] < Duration::from_millis(3_200));
        assert!(busiest_second(&done) <= 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_high_rate_is_spaced_without_a_ceiling_list() {
        let p = pacer(100_000);
        let t = times(&p, 1_000, Lane::Bulk).await;
        // 10 ms at the rate; the timer's whole milliseconds cost a few more, never the
        // second that one millisecond per bulk send would take.
        assert!(
            t[999] - t[0] <= Duration::from_millis(30),
            "{:?}",
            t[999] - t[0]
        );
    }
}
