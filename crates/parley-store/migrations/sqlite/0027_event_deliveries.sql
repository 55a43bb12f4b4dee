-- Events out, the delivery side (issue 57). `event_cursors`: per endpoint, the last event of
-- `events_out` fanned out to it. `event_deliveries`: one row per event and endpoint (the
-- event's kind, conversation and time copied for the claim's order and the log's filters),
-- pending until delivered or parked, with its attempts, its next try, the lease of the
-- process trying it, and the last attempt's answer. Times are unix microseconds.
create table event_cursors (
    endpoint text primary key,
    last_event_id integer not null
);

create table event_deliveries (
    id integer primary key,
    endpoint text not null,
    event_id integer not null,
    kind text not null,
    conversation_id integer,
    event_at integer not null,
    state text not null default 'pending',
    attempts integer not null default 0,
    next_at integer not null,
    lease_owner text,
    lease_until integer,
    last_attempt_at integer,
    last_status integer,
    last_error text,
    delivered_at integer,
    unique (endpoint, event_id)
);

-- Due work per endpoint.
create index event_deliveries_due on event_deliveries (endpoint, next_at, event_id)
    where state = 'pending';
-- The earlier pending event of a conversation that holds a later one back.
create index event_deliveries_conversation on event_deliveries (endpoint, conversation_id, event_id)
    where state = 'pending';
-- Leases held (a process's in-flight deliveries), given back when it stops or dies.
create index event_deliveries_leased on event_deliveries (lease_owner)
    where lease_owner is not null;
