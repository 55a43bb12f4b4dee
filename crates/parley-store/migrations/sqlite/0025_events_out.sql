-- Events out (issue 57): what Parley tells CRMs, data pipelines and a Chatwoot inbox about,
-- one row per event, written in the same transaction as the change it tells of. `kind` is
-- the wire name (`message.received`), `at` when it happened (microseconds), `data` the
-- payload's JSON `data` object. Events of one conversation are delivered in `id` order.
create table events_out (
    id integer primary key,
    kind text not null,
    at integer not null,
    conversation_id integer,
    sender_id integer,
    data text not null
);
