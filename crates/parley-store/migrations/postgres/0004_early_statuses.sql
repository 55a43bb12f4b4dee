-- A status webhook can arrive before Parley recorded the provider id of the send it is
-- about (the provider answers the send and fires the webhook at nearly the same time).
-- Such statuses wait here and are applied when the send's outcome is recorded.
create table early_statuses (
    sender_id bigint not null,
    provider_message_id text not null,
    status text not null,
    payload jsonb not null,
    received_at timestamptz not null,
    primary key (sender_id, provider_message_id, status)
);
