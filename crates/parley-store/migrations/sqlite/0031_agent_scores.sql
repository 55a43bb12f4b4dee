-- Scored agent conversations (issue 59): one row per agent conversation drawn to be scored
-- by a judge model in the background, added in the transaction that commits the event that
-- ended it. Times are Unix microseconds. `status` is pending until the scoring worker
-- claims the row (`lease_owner`, `lease_until_us`) and records `scored`, `failed` or
-- `skipped` (the flow or its step's `score:` is gone, or the day's budget left it pending
-- for more than two days). `transcript` is what the judge read (masked when the step's
-- guardrails say so), `verdicts` the judge's answer per criterion, `score` the share of
-- criteria passed (0 to 1).
create table agent_scores (
    id integer primary key,
    flow text not null,
    step text not null,
    conversation_id integer not null,
    started_us integer not null,
    ended_us integer not null,
    outcome text not null,
    status text not null default 'pending'
        check (status in ('pending', 'scored', 'skipped', 'failed')),
    lease_owner text,
    lease_until_us integer,
    score real,
    verdicts text,
    transcript text,
    judge_tokens integer not null default 0,
    judge_cost_micros integer not null default 0,
    scored_us integer,
    reason text
);
create index agent_scores_pending on agent_scores (ended_us) where status = 'pending';
create index agent_scores_by_flow on agent_scores (flow, step, scored_us) where status = 'scored';
create index agent_scores_spend on agent_scores (flow, step, scored_us);
