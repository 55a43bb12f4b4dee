-- The inbox's claim walked `conversations_with_work` (by `work_since`) from its head, and
-- a conversation keeps `has_work` while a worker holds it: with 1,000 conversations waiting
-- on a model, every claim stepped over those 1,000 leased rows (and read each row for its
-- lease) before it found one it could take; 38 % of the SQLite writer's time in that
-- benchmark. The claim's index now puts the conversations nobody holds first (oldest work
-- first), then the held ones by the end of their lease, so a claim reads only what it can
-- take and stops at the first lease still running.
drop index conversations_with_work;
create index conversations_claimable on conversations (coalesce(lease_until, 0), work_since)
    where has_work = 1;
