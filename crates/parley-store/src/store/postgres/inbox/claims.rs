//! How the inbox's claims find conversations to lease: the one statement that leases them
//! (`claim_update!`) and where each process's walk for leases that ran out begins
//! (`ExpiredWalk`).

use chrono::{DateTime, Utc};
use std::time::Duration;

/// Leases to `$1` until `$2` up to `$4` conversations with work whose lease is free at `$3`
/// and returns their `id, work_since` (callers may add columns after a comma): those whose
/// lease ran out first (their worker failed, died or overran; they waited a whole lease
/// already), by its end, then those nobody holds, oldest work first. Shared by
/// `claim_conversations` and `CLAIM_WORK`. Both parts walk `conversations_claimable`
/// (migration 0022), where the free conversations come first, then the held ones in the
/// order their leases end: the first part steps from the first lease to the first still
/// running, the second reads only what it can take.
///
/// The expired part goes first so that every claim walks it, not only those the free work
/// leaves room for, and it walks only the leases that ended after `$since` (null: all of
/// them; `ExpiredWalk` says which). Each claim and release leaves a dead entry there (a
/// lease that ended) until a vacuum removes it; a walk reads each such entry's row once
/// and marks it dead in the index, but still reads the index pages of every marked one in
/// its range. When free work filled every claim for a while (a burst), the claim after it
/// read all the rows those claims had not walked: 51,000 rows and 114 ms, three minutes
/// into 1,000/s with autovacuum off; walking from the first lease every time, each claim
/// read the pages of all leases since the last vacuum (1,600 pages a claim on average over
/// ten minutes, growing). Taking free work first would also starve a lease that ran out
/// behind a steady backlog.
macro_rules! claim_update {
    ($since:literal) => {
        concat!(
        "update conversations set lease_owner = $1, lease_until = $2
         where id in (
             select id from (
                 select id from conversations
                 where has_work
                   and coalesce(lease_until, '-infinity'::timestamptz)
                       > coalesce(", $since, "::timestamptz, '-infinity'::timestamptz)
                   and coalesce(lease_until, '-infinity'::timestamptz) <= $3
                 order by coalesce(lease_until, '-infinity'::timestamptz), work_since, id
                 limit $4
                 for no key update skip locked) expired
             union all
             select id from (
                 select id from conversations
                 where has_work
                   and coalesce(lease_until, '-infinity'::timestamptz) = '-infinity'::timestamptz
                 order by work_since, id
                 limit $4
                 for no key update skip locked) free
             limit $4)
         returning id, work_since")
    };
}

/// Where a process's inbox claims look for leases that ran out (`claim_update!`): from
/// one lease before the previous claim that did not fill its batch (it walked everything
/// up to its own time), and every `FULL_WALK_EVERY` leases from the first lease of all,
/// for one skipped meanwhile (it was locked, or more had run out than claims took). The
/// first claim of a process walks them all.
#[derive(Debug, Default)]
pub(in crate::store::postgres) struct ExpiredWalk {
    previous: Option<DateTime<Utc>>,
    full: Option<DateTime<Utc>>,
}

/// How many leases apart the walks over every lease come.
const FULL_WALK_EVERY: i32 = 10;

impl ExpiredWalk {
    /// The lease end after which a claim at `now` looks (`None`: from the first).
    pub(in crate::store::postgres) fn since(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Option<DateTime<Utc>> {
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let full_due = match self.full {
            None => true,
            // A clock set back walks everything too.
            Some(full) => {
                now < full
                    || lease
                        .checked_mul(FULL_WALK_EVERY)
                        .is_some_and(|every| now - full >= every)
            }
        };
        if full_due {
            return None;
        }
        self.previous.map(|previous| {
            previous
                .min(now)
                .checked_sub_signed(lease)
                .unwrap_or(previous)
        })
    }

    /// A claim at `now` that looked from `since` succeeded. One that came back with a
    /// `full_batch` may have stopped among the leases that ran out (they come first): the
    /// next looks from where this one did. A lease left behind that is older still (more
    /// ran out at once than claims took within a lease) waits for the next full walk.
    pub(in crate::store::postgres) fn walked(
        &mut self,
        now: DateTime<Utc>,
        since: Option<DateTime<Utc>>,
        full_batch: bool,
    ) {
        if since.is_none() {
            self.full = Some(now);
        }
        if !full_batch || self.previous.is_none() {
            self.previous = Some(now);
        }
    }
}
pub(in crate::store::postgres) use claim_update;

#[cfg(test)]
mod tests {
    use super::ExpiredWalk;
    use chrono::{DateTime, TimeZone, Utc};
    use std::time::Duration;

    fn t(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
    }

    /// A claim walks the leases that ended since one lease before the previous claim that
    /// succeeded without filling its batch; the first claim, one every ten leases and one
    /// after the clock went back walk them all.
    #[test]
    fn claims_walk_from_one_lease_before_the_previous_claim() {
        let lease = Duration::from_secs(30);
        let mut walk = ExpiredWalk::default();
        let claim = |walk: &mut ExpiredWalk, at: i64| {
            let since = walk.since(t(at), lease);
            walk.walked(t(at), since, false);
            since
        };
        assert_eq!(claim(&mut walk, 0), None);
        assert_eq!(claim(&mut walk, 1), Some(t(-30)));
        // A claim that failed walked nothing: the next looks from the one before it.
        assert_eq!(walk.since(t(2), lease), Some(t(-29)));
        assert_eq!(claim(&mut walk, 100), Some(t(-29)));
        // A full batch may have stopped among the leases that ran out: the next claim
        // looks from the same place.
        let since = walk.since(t(150), lease);
        walk.walked(t(150), since, true);
        assert_eq!(since, Some(t(70)));
        assert_eq!(claim(&mut walk, 299), Some(t(70)));
        // Ten leases after the last full walk, everything again; a full batch counts as
        // that walk, and the next claim looks from the claim before it.
        let since = walk.since(t(300), lease);
        walk.walked(t(300), since, true);
        assert_eq!(since, None);
        assert_eq!(claim(&mut walk, 301), Some(t(269)));
        assert_eq!(claim(&mut walk, 302), Some(t(271)));
        // A clock set back.
        assert_eq!(claim(&mut walk, 200), None);
        assert_eq!(claim(&mut walk, 201), Some(t(170)));
        // A lease too long to count: no full walk after the first (nothing runs out).
        let mut forever = ExpiredWalk::default();
        assert_eq!(claim(&mut forever, 0), None);
        assert_eq!(
            forever.since(t(5), Duration::from_secs(u64::MAX)),
            Some(t(0))
        );
    }
}
