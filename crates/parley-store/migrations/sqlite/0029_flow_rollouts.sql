-- Flow rollouts (issue 58): the share (0 to 100 %) of new conversations each flow's candidate
-- version (`candidate:` in a second file with the flow's id) is served, and whether it was
-- promoted. A flow without a row serves its candidate to no one.
create table flow_rollouts (
    flow text primary key,
    candidate text not null,
    share integer not null check (share between 0 and 100),
    promoted integer not null default 0,
    updated_at integer not null
);
