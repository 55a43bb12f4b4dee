-- Scheduled flows: one row per fire of a schedule (unique, so several processes record a
-- fire once), with the lease of the process running its audience and the cursor it
-- reached, so a run resumes after a crash without sending twice.
create table schedule_fires (
    id integer primary key,
    flow_id text not null,
    fire_at integer not null,
    -- 1: not a run, only when the schedule was first seen (missed fires count from here)
    anchor integer not null default 0,
    -- last conversation id whose event was created
    cursor integer not null default 0,
    enqueued integer not null default 0,
    lease_owner text,
    lease_until integer,
    created_at integer not null,
    done_at integer,
    unique (flow_id, fire_at)
);

create index schedule_fires_open on schedule_fires (id) where done_at is null and anchor = 0;
-- audience pages: a sender's conversations in id order
create index conversations_sender on conversations (sender_id, id);
-- backlog of a sender
create index conversation_events_sender_pending on conversation_events (sender_id)
    where processed_at is null;
