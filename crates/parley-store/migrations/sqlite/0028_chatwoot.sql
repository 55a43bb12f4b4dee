-- The Chatwoot bridge (issue 57). `chatwoot_links`: the Chatwoot contact, contact inbox and
-- conversation mirroring each Parley conversation. `chatwoot_mirrored`: events posted into
-- Chatwoot (`message_id` null while the post's outcome is unknown). `chatwoot_agent_messages`:
-- agents' Chatwoot messages taken by Parley, with the send queued for each (null: none).
create table chatwoot_links (
    conversation_id integer primary key,
    contact_id integer not null,
    source_id text not null,
    chatwoot_conversation_id integer not null,
    created_at integer not null
);
create index chatwoot_links_by_chatwoot on chatwoot_links (chatwoot_conversation_id);

create table chatwoot_mirrored (
    event_id integer primary key,
    message_id integer,
    updated_at integer not null
);

create table chatwoot_agent_messages (
    chatwoot_message_id integer primary key,
    conversation_id integer not null,
    outbound_id integer,
    created_at integer not null
);
create index chatwoot_agent_messages_by_outbound on chatwoot_agent_messages (outbound_id)
    where outbound_id is not null;
