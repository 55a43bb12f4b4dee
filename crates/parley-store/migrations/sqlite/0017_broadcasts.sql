-- Broadcasts: one template sent to many customers, paced by WhatsApp's limits.
-- `state`: sending (or waiting for `start_at` / `wait_until`), paused, cancelled, done.
-- `prepared`: every recipient is in broadcast_recipients (an audience is read in pages,
-- `cursor` being the last conversation id read). No foreign keys, like model_exchanges:
-- contact merges move conversations, and a broadcast's record must never stand in the way.
create table broadcasts (
    id integer primary key,
    name text not null,
    sender_id integer not null,
    template_name text not null,
    template_language text not null,
    category text,
    variables text not null,
    audience text,
    frequency_cap_secs integer,
    reply_flow text,
    portfolio text,
    messaging_limit integer,
    start_at integer not null,
    state text not null,
    prepared integer not null default 0,
    cursor integer not null default 0,
    wait_until integer,
    wait_reason text,
    lease_owner text,
    lease_until integer,
    created_at integer not null,
    updated_at integer not null
);
create index broadcasts_open on broadcasts (id) where state = 'sending';

-- One row per recipient: `pending` (its send not queued yet), `queued` (its send is the
-- outbound message `outbound_id`, queued in the same transaction), or `skipped` (`reason`).
-- `payload`: the rendered template message, checked before anything was queued.
create table broadcast_recipients (
    id integer primary key,
    broadcast_id integer not null,
    conversation_id integer not null,
    contact_id integer not null,
    state text not null,
    reason text,
    payload text,
    outbound_id integer,
    queued_at integer,
    reply_until integer,
    unique (broadcast_id, contact_id)
);
create index broadcast_recipients_pending on broadcast_recipients (broadcast_id, id)
    where state = 'pending';
create index broadcast_recipients_conversation on broadcast_recipients (conversation_id, id);

-- Which broadcast recipient a send (and a 131049 copy of it) is for.
alter table outbound_messages add column broadcast_recipient integer;
alter table deferred_sends add column broadcast_recipient integer;
create index outbound_messages_broadcast on outbound_messages (broadcast_recipient)
    where broadcast_recipient is not null;

-- The business portfolio's messaging limit: when each customer was last reached by a
-- business-initiated message outside a window (a new reach only when the last is older
-- than 24 h). Counted across senders and processes from here.
create table portfolio_reach (
    portfolio text not null,
    contact_id integer not null,
    reached_at integer not null,
    primary key (portfolio, contact_id)
);
create index portfolio_reach_recent on portfolio_reach (portfolio, reached_at);

create index deferred_sends_broadcast on deferred_sends (broadcast_recipient)
    where broadcast_recipient is not null;
