-- Parley schema for SQLite. Timestamps are INTEGER unix microseconds (sortable, compact);
-- JSON values are TEXT holding the serde form of the Rust types.

create table contacts (
    id integer primary key,
    -- ContactRef::key(): `+16315551181` or `bsuid:US.…`
    key text not null unique,
    name text,
    attributes text not null default '{}',
    tags text not null default '[]',
    created_at integer not null
);

create table conversations (
    id integer primary key,
    sender_id integer not null,
    contact_id integer not null references contacts (id),
    -- provider timestamp of the customer's latest message: the window runs from here
    last_inbound_at integer,
    state text not null default 'null',
    -- unprocessed events wait; cleared only when a worker releases the conversation
    has_work integer not null default 0,
    work_since integer,
    lease_owner text,
    lease_until integer,
    created_at integer not null,
    unique (sender_id, contact_id)
);

create index conversations_with_work on conversations (work_since) where has_work = 1;

create table conversation_events (
    id integer primary key,
    conversation_id integer not null references conversations (id),
    sender_id integer not null,
    -- the deduplication key of inbound messages; null for timer fires
    provider_message_id text,
    kind text not null check (kind in ('message', 'timer')),
    payload text not null,
    received_at integer not null,
    processed_at integer,
    unique (sender_id, provider_message_id)
);

create index conversation_events_pending on conversation_events (conversation_id, id)
    where processed_at is null;

create table outbound_messages (
    id integer primary key,
    sender_id integer not null,
    conversation_id integer not null references conversations (id),
    payload text not null,
    fallback text not null,
    origin text not null,
    status text not null,
    provider_message_id text,
    error_code integer,
    error_title text,
    window_closed integer not null default 0,
    attempts integer not null default 0,
    next_attempt_at integer not null,
    lease_owner text,
    lease_until integer,
    created_at integer not null,
    updated_at integer not null
);

-- the outbox claim: only queued rows are in it
create index outbound_messages_ready on outbound_messages (next_attempt_at, id)
    where status = 'queued';
-- head-of-line: is an older message of this conversation still queued?
create index outbound_messages_queued_line on outbound_messages (conversation_id, id)
    where status = 'queued';
-- a conversation's messages, newest first
create index outbound_messages_conversation on outbound_messages (conversation_id, id);
-- delivery status webhooks
create index outbound_messages_provider_id on outbound_messages (provider_message_id)
    where provider_message_id is not null;

create table timers (
    -- autoincrement: a fired timer's id is never handed to a later timer
    id integer primary key autoincrement,
    conversation_id integer not null references conversations (id),
    purpose text not null,
    due_at integer not null,
    payload text not null
);

create index timers_due on timers (due_at);
create index timers_conversation on timers (conversation_id, purpose);

create table sender_stops (
    sender_id integer primary key,
    code integer,
    reason text not null,
    stopped_at integer not null
);
