-- The Chatwoot bridge (issue 57). `chatwoot_links`: the Chatwoot contact, contact inbox and
-- conversation mirroring each Parley conversation. `chatwoot_mirrored`: events posted into
-- Chatwoot (`message_id` null while the post's outcome is unknown). `chatwoot_agent_messages`:
-- agents' Chatwoot messages taken by Parley, with the send queued for each (null: none).
create table chatwoot_links (
    conversation_id bigint primary key,
    contact_id bigint not null,
    source_id text not null,
    chatwoot_conversation_id bigint not null,
    created_at timestamptz not null
);
create index chatwoot_links_by_chatwoot on chatwoot_links (chatwoot_conversation_id);

create table chatwoot_mirrored (
    event_id bigint primary key,
    message_id bigint,
    updated_at timestamptz not null
);

create table chatwoot_agent_messages (
    chatwoot_message_id bigint primary key,
    conversation_id bigint not null,
    outbound_id bigint,
    created_at timestamptz not null
);
create index chatwoot_agent_messages_by_outbound on chatwoot_agent_messages (outbound_id)
    where outbound_id is not null;
