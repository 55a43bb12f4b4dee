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
//! - **Live first.** A live send reserves the next free slot at once. Bulk sends wait in
//!   line, one at a time, and the one in front takes a slot only when it is free *now*:
//!   it never reserves one ahead, so a reply that comes while it waits takes that slot
//!   instead. A reply therefore waits for at most the one bulk send already going and the
//!   replies before it, never for bulk sends that were merely waiting (before, a bulk send
//!   reserved its slot ahead and a reply waited up to two slots). The broadcast takes what
//!   the replies leave.
//! - **A share for bulk sends** (`senders[].bulk_share`, default 0): while replies wait for
//!   slots, bulk sends may still take this share of them (one in four at 0.25), so a
//!   number whose replies use its whole pace still moves its campaigns. At most 0.5: a
//!   reply then waits for at most one bulk send before its own slot.
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

/// A share paid in thirds adds up to a little under one.
const PAID: f64 = 1.0 - 1e-9;

/// The largest `bulk_share`: above it a reply could wait behind two bulk sends in a row.
pub const MAX_BULK_SHARE: f64 = 0.5;

pub struct Pacer {
    rate: u32,
    period: Duration,
    /// What a waiting bulk send earns for each slot a live send reserves ahead of it
    /// (`bulk_share / (1 - bulk_share)`); a whole one lets it reserve like a live send.
    earn: f64,
    state: Mutex<State>,
    /// Held by the one bulk send at the front of the bulk line, until it has its slot.
    bulk: tokio::sync::Mutex<()>,
    /// Wakes that bulk send once replies have paid its share of a slot.
    bulk_paid: tokio::sync::Notify,
}

struct State {
    /// The earliest slot not reserved yet.
    next: Instant,
    /// When the sends of the last second were taken (the ceiling), oldest first.
    recent: VecDeque<Instant>,
    /// Whether a bulk send is at the front of its line, waiting for a free slot.
    bulk_waiting: bool,
    /// What that bulk send has earned while replies took slots (see `Pacer::earn`).
    credit: f64,
    /// Live sends that reserved a slot and have not gone yet (sleeping until their slot,
    /// or until the ceiling lets them): a bulk send does not go while any waits.
    live_waiting: usize,
}

/// Counts a live send as waiting until it goes (or its wait is dropped, at shutdown).
struct LiveWaiting<'a>(&'a Pacer);

impl Drop for LiveWaiting<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        state.live_waiting -= 1;
        let bulk_may_go = state.live_waiting == 0 && state.bulk_waiting;
        drop(state);
        if bulk_may_go {
            self.0.bulk_paid.notify_one();
        }
    }
}

/// What the bulk send at the front of the line does next.
enum Turn {
    /// Its slot: go at this instant.
    Go(Instant),
    /// No slot is free now: look again at this instant.
    Later(Instant),
}

impl Pacer {
    /// A pace of `per_second`, with replies always first (`bulk_share` 0).
    pub fn new(per_second: NonZeroU32) -> Self {
        let rate = per_second.get();
        Self {
            rate,
            period: SECOND / rate,
            earn: 0.0,
            state: Mutex::new(State {
                next: Instant::now(),
                recent: VecDeque::with_capacity(rate.min(CEILING_MAX_RATE) as usize),
                bulk_waiting: false,
                credit: 0.0,
                live_waiting: 0,
            }),
            bulk: tokio::sync::Mutex::new(()),
            bulk_paid: tokio::sync::Notify::new(),
        }
    }

    /// The same pace, with bulk sends taking `share` of the slots while replies wait
    /// (clamped to 0..=[`MAX_BULK_SHARE`]; the config refuses values outside it).
    pub fn with_bulk_share(mut self, share: f64) -> Self {
        let share = if share.is_finite() {
            share.clamp(0.0, MAX_BULK_SHARE)
        } else {
            0.0
        };
        self.earn = share / (1.0 - share);
        self
    }

    /// Waits until a send in `lane` may go now.
    pub async fn wait(&self, lane: Lane) {
        let (slot, _live) = match lane {
            Lane::Live => (self.reserve(), Some(LiveWaiting(self))),
            Lane::Bulk => (self.bulk_turn().await, None),
        };
        if slot > Instant::now() + TIMER_GRAIN {
            tokio::time::sleep_until(slot).await;
        }
        while let Some(until) = self.take() {
            tokio::time::sleep_until(until).await;
        }
    }

    /// A live send's slot: the next free one, now reserved. A bulk send waiting meanwhile
    /// earns its share.
    fn reserve(&self) -> Instant {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let slot = self.next_slot(&state, Instant::now());
        state.next = slot + self.period;
        state.live_waiting += 1;
        let paid = state.bulk_waiting && self.earn > 0.0 && {
            // Never more than one slot owed: no run of bulk sends after a long wait.
            state.credit = (state.credit + self.earn).min(1.0);
            state.credit >= PAID
        };
        drop(state);
        if paid {
            self.bulk_paid.notify_one();
        }
        slot
    }

    /// The next free slot at `now`: `next` while it is at most a period late (a sleep
    /// that woke a moment late keeps the rate's grid), otherwise now (after a pause: no
    /// burst of the idle time's unused slots).
    fn next_slot(&self, state: &State, now: Instant) -> Instant {
        if state.next + self.period > now {
            state.next
        } else {
            now
        }
    }

    /// Waits at the front of the bulk line until a slot is free now (or its share lets
    /// it reserve one ahead of waiting replies); returns that slot.
    async fn bulk_turn(&self) -> Instant {
        let _front = self.bulk.lock().await;
        loop {
            match self.bulk_look(Instant::now()) {
                Turn::Go(slot) => return slot,
                Turn::Later(at) => tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = self.bulk_paid.notified() => {}
                },
            }
        }
    }

    /// At `now`, whether the bulk send at the front goes (a slot free now, no reply
    /// waiting and room under the ceiling; or one ahead of waiting replies paid with its
    /// share) or looks again later: when the next slot comes or the ceiling has room, or
    /// when the replies waiting have gone (`bulk_paid`). Were it to take a slot while the
    /// ceiling is full, it would wait for room beside the replies, and whichever woke
    /// first would go: after a stall (a busy machine) that lets the whole line of bulk
    /// sends reserve ahead of the replies.
    fn bulk_look(&self, now: Instant) -> Turn {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let slot = self.next_slot(&state, now);
        let room_at = self.ceiling_room_at(&state, now);
        if slot <= now + TIMER_GRAIN && state.live_waiting == 0 && room_at.is_none() {
            // Nobody waits for this slot: no contention, nothing owed.
            state.credit = 0.0;
        } else if state.credit >= PAID {
            state.credit = 0.0;
        } else {
            state.bulk_waiting = true;
            let at = slot.max(room_at.unwrap_or(slot));
            // With replies waiting for a slot already past, look again a period on
            // (or when they have gone).
            return Turn::Later(at.max(now + self.period));
        }
        state.next = slot + self.period;
        state.bulk_waiting = false;
        Turn::Go(slot)
    }

    /// When the ceiling has room for one more send, if it has none at `now`.
    fn ceiling_room_at(&self, state: &State, now: Instant) -> Option<Instant> {
        if self.rate > CEILING_MAX_RATE || state.recent.len() < self.rate as usize {
            return None;
        }
        let at = state.recent[0] + SECOND;
        (at > now).then_some(at)
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
        // The bulk send of 1,000 ms went; the one waiting next had not reserved 1,100 ms
        // ahead, so the reply takes it: half a period, never the two slots (150 ms) it
        // waited when bulk sends reserved ahead.
        assert!(waited <= Duration::from_millis(50), "{waited:?}");
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

    /// Sends let go in order, as (lane, when): 10 bulk sends waiting from the start, and a
    /// reply every 50 ms from 10 ms on (twice the pace of 10/s, so replies wait).
    async fn contended(share: f64) -> Vec<(Lane, Instant)> {
        let p = Arc::new(Pacer::new(NonZeroU32::new(10).unwrap()).with_bulk_share(share));
        let mut tasks = Vec::new();
        let go = |p: &Arc<Pacer>, lane: Lane| {
            let p = p.clone();
            tokio::spawn(async move {
                p.wait(lane).await;
                (lane, Instant::now())
            })
        };
        for _ in 0..10 {
            tasks.push(go(&p, Lane::Bulk));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        for _ in 0..40 {
            tasks.push(go(&p, Lane::Live));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out.sort_by_key(|(_, at)| *at);
        out
    }

    #[tokio::test(start_paused = true)]
    async fn replies_take_every_slot_while_they_wait_with_no_bulk_share() {
        let order = contended(0.0).await;
        let lanes: Vec<Lane> = order.iter().map(|(lane, _)| *lane).collect();
        // The bulk send of the first slot, then the forty replies, then the other nine.
        assert_eq!(lanes[0], Lane::Bulk);
        assert!(lanes[1..41].iter().all(|l| *l == Lane::Live), "{lanes:?}");
        assert!(lanes[41..].iter().all(|l| *l == Lane::Bulk), "{lanes:?}");
        let times: Vec<Instant> = order.iter().map(|(_, at)| *at).collect();
        assert!(busiest_second(&times) <= 10);
    }

    #[tokio::test(start_paused = true)]
    async fn bulk_sends_keep_their_share_while_replies_wait() {
        let order = contended(0.25).await;
        let lanes: Vec<Lane> = order.iter().map(|(lane, _)| *lane).collect();
        // One slot in four while the replies wait: of the first 24, the first bulk send's
        // and five more (three replies, then a bulk send), never two bulk sends in a row.
        let bulk = lanes[..24].iter().filter(|l| **l == Lane::Bulk).count();
        assert!((5..=7).contains(&bulk), "{bulk} bulk sends: {lanes:?}");
        assert!(
            lanes[1..30]
                .windows(2)
                .all(|w| w != [Lane::Bulk, Lane::Bulk]),
            "{lanes:?}"
        );
        let times: Vec<Instant> = order.iter().map(|(_, at)| *at).collect();
        assert!(busiest_second(&times) <= 10);
        // Everything went, at the pace: 50 sends in about five seconds.
        assert!(times[49] - times[0] < Duration::from_millis(5_200));
    }

    /// After a stall (sends taken late, bunched), the ceiling is full for a while: bulk
    /// sends must not take slots meanwhile and wait for room beside the replies, or the
    /// first to wake goes, and a reply waits behind the whole line of them.
    #[tokio::test(start_paused = true)]
    async fn with_the_ceiling_full_a_reply_still_goes_before_the_bulk_sends() {
        let p = pacer(10);
        for _ in 0..10 {
            assert_eq!(p.take(), None);
        }
        let order = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let go = |lane: Lane| {
            let (p, order) = (p.clone(), order.clone());
            tokio::spawn(async move {
                p.wait(lane).await;
                order.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            })
        };
        let bulk: Vec<_> = (0..5).map(|_| go(Lane::Bulk)).collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let live = go(Lane::Live);
        assert_eq!(live.await.unwrap(), 0, "bulk sends went before the reply");
        for b in bulk {
            b.await.unwrap();
        }
    }

    #[test]
    fn a_share_outside_its_range_is_held_to_it() {
        let rate = NonZeroU32::new(10).unwrap();
        assert_eq!(Pacer::new(rate).with_bulk_share(0.9).earn, 1.0);
        assert_eq!(Pacer::new(rate).with_bulk_share(-1.0).earn, 0.0);
        assert_eq!(Pacer::new(rate).with_bulk_share(f64::NAN).earn, 0.0);
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
