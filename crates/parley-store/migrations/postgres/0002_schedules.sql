-- Scheduled flows: one row per fire of a schedule (unique, so several processes record a
-- fire once), with the lease of the process running its audience and the cursor it
-- reached, so a run resumes after a crash without sending twice.
create table schedule_fires (
    id bigserial primary key,
    flow_id text not null,
    fire_at timestamptz not null,
    -- true: not a run, only when the schedule was first seen (missed fires count from here)
    anchor boolean not null default false,
    -- last conversation id whose event was created
    cursor bigint not null default 0,
    enqueued bigint not null default 0,
    lease_owner text,
    lease_until timestamptz,
    created_at timestamptz not null,
    done_at timestamptz,
    unique (flow_id, fire_at)
);

create index schedule_fires_open on schedule_fires (id) where done_at is null and not anchor;
create index conversations_sender on conversations (sender_id, id);
create index conversation_events_sender_pending on conversation_events (sender_id)
    where processed_at is null;
