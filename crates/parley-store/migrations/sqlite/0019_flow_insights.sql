-- Flow insights: counters per flow, step and hour (`hour`: Unix seconds at the start of the
-- UTC hour), added to in the transaction that commits the event they count, so an event
-- handled again after a crash never counts twice. `step` is the step's insight key (its `id`,
-- else `step 3` or `step 3.2`), empty for the flow's own outcomes; `what` names the counter
-- (entered, answered, timed_out, invalid, dropped, errored; started, finished, handed_off,
-- moved, …). A counter is one row, so new counters need no migration.
create table flow_insights (
    flow text not null,
    step text not null,
    hour integer not null,
    what text not null,
    n integer not null,
    primary key (flow, step, hour, what)
) without rowid;
create index flow_insights_by_hour on flow_insights (hour);
