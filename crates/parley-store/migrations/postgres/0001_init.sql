-- Parley schema for PostgreSQL. Several processes share it: claims use leases and
-- `for update skip locked`, deduplication relies on the unique constraints below.

create table contacts (
    id bigint generated always as identity primary key,
    -- ContactRef::key(): `+16315551181` or `bsuid:US.…`
    key text not null unique,
    name text,
    attributes jsonb not null default '{}',
    tags jsonb not null default '[]',
    created_at timestamptz not null
);

create table conversations (
    id bigint generated always as identity primary key,
    sender_id bigint not null,
    contact_id bigint not null references contacts (id),
    -- provider timestamp of the customer's latest message: the window runs from here
    last_inbound_at timestamptz,
    state jsonb not null default 'null',
    -- unprocessed events wait; cleared only when a worker releases the conversation
    has_work boolean not null default false,
    work_since timestamptz,
    lease_owner text,
    lease_until timestamptz,
    created_at timestamptz not null,
    unique (sender_id, contact_id)
);

create index conversations_with_work on conversations (work_since) where has_work;

create table conversation_events (
    id bigint generated always as identity primary key,
    conversation_id bigint not null references conversations (id),
    sender_id bigint not null,
    -- the deduplication key of inbound messages; null for timer fires
    provider_message_id text,
    kind text not null check (kind in ('message', 'timer')),
    payload jsonb not null,
    received_at timestamptz not null,
    processed_at timestamptz,
    unique (sender_id, provider_message_id)
);

create index conversation_events_pending on conversation_events (conversation_id, id)
    where processed_at is null;

create table outbound_messages (
    id bigint generated always as identity primary key,
    sender_id bigint not null,
    conversation_id bigint not null references conversations (id),
    payload jsonb not null,
    fallback jsonb not null,
    origin text not null,
    status text not null,
    provider_message_id text,
    error_code bigint,
    error_title text,
    window_closed boolean not null default false,
    attempts integer not null default 0,
    next_attempt_at timestamptz not null,
    lease_owner text,
    lease_until timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
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
    id bigint generated always as identity primary key,
    conversation_id bigint not null references conversations (id),
    purpose text not null,
    due_at timestamptz not null,
    payload jsonb not null
);

create index timers_due on timers (due_at);
create index timers_conversation on timers (conversation_id, purpose);

create table sender_stops (
    sender_id bigint primary key,
    code bigint,
    reason text not null,
    stopped_at timestamptz not null
);
