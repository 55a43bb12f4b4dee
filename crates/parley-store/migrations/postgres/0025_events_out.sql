-- Events out (issue 57): what Parley tells CRMs, data pipelines and a Chatwoot inbox about,
-- one row per event, written in the same transaction as the change it tells of. `kind` is
-- the wire name (`message.received`), `at` when it happened, `data` the payload's `data`
-- object. Events of one conversation are delivered in `id` order.
create table events_out (
    id bigserial primary key,
    kind text not null,
    at timestamptz not null,
    conversation_id bigint,
    sender_id bigint,
    data jsonb not null
);
