-- Broadcasts: one template sent to many customers, paced by WhatsApp's limits.
-- `state`: sending (or waiting for `start_at` / `wait_until`), paused, cancelled, done.
-- `prepared`: every recipient is in broadcast_recipients (an audience is read in pages,
-- `cursor` being the last conversation id read). No foreign keys, like model_exchanges:
-- contact merges move conversations, and a broadcast's record must never stand in the way.
create table broadcasts (
    id bigint generated always as identity primary key,
    name text not null,
    sender_id bigint not null,
    template_name text not null,
    template_language text not null,
    category text,
    variables jsonb not null,
    audience jsonb,
    frequency_cap_secs bigint,
    reply_flow text,
    portfolio text,
    messaging_limit bigint,
    start_at timestamptz not null,
    state text not null,
    prepared boolean not null default false,
    cursor bigint not null default 0,
    wait_until timestamptz,
    wait_reason text,
    lease_owner text,
    lease_until timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index broadcasts_open on broadcasts (id) where state = 'sending';

-- One row per recipient: `pending` (its send not queued yet), `queued` (its send is the
-- outbound message `outbound_id`, queued in the same transaction), or `skipped` (`reason`).
-- `payload`: the rendered template message, checked before anything was queued.
create table broadcast_recipients (
    id bigint generated always as identity primary key,
    broadcast_id bigint not null,
    conversation_id bigint not null,
    contact_id bigint not null,
    state text not null,
    reason text,
    payload jsonb,
    outbound_id bigint,
    queued_at timestamptz,
    reply_until timestamptz,
    unique (broadcast_id, contact_id)
);
create index broadcast_recipients_pending on broadcast_recipients (broadcast_id, id)
    where state = 'pending';
create index broadcast_recipients_conversation on broadcast_recipients (conversation_id, id);

-- Which broadcast recipient a send (and a 131049 copy of it) is for.
alter table outbound_messages add column broadcast_recipient bigint;
alter table deferred_sends add column broadcast_recipient bigint;
create index outbound_messages_broadcast on outbound_messages (broadcast_recipient)
    where broadcast_recipient is not null;

-- The business portfolio's messaging limit: when each customer was last reached by a
-- business-initiated message outside a window (a new reach only when the last is older
-- than 24 h). Counted across senders and processes from here.
create table portfolio_reach (
    portfolio text not null,
    contact_id bigint not null,
    reached_at timestamptz not null,
    primary key (portfolio, contact_id)
);
create index portfolio_reach_recent on portfolio_reach (portfolio, reached_at);
create index deferred_sends_broadcast on deferred_sends (broadcast_recipient)
    where broadcast_recipient is not null;
