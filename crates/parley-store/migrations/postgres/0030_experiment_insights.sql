-- Experiments' insights (issue 58): the flow insights' counters again, by experiment and arm,
-- for the runs in an arm (`experiment`: `<flow>/<split step id>` or `<flow>@version`). Added
-- to in the transaction that commits the event they count, like `flow_insights`. `step` is
-- the step's insight key, empty for the run's outcomes; `what` is a flow insights' counter,
-- or `finish_ms` (milliseconds from the run's start to its finish, summed).
create table experiment_insights (
    experiment text not null,
    arm text not null,
    step text not null,
    hour bigint not null,
    what text not null,
    n bigint not null,
    primary key (experiment, arm, step, hour, what)
);
create index experiment_insights_by_hour on experiment_insights (hour);
