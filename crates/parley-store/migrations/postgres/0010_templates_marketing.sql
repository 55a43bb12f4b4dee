-- Templates as Meta last described them (message_template_status_update,
-- template_category_update); `language` is '' when Meta's update named none.
create table template_states (
    name text not null,
    language text not null default '',
    template_id text,
    status text,
    reason text,
    category text,
    impending_category text,
    impending_on timestamptz,
    updated_at timestamptz not null,
    primary key (name, language)
);

-- Marketing: the customer stopped it (131050, user_preferences), or WhatsApp held one back
-- (131049) and no marketing goes to this contact before `marketing_limited_until`.
alter table contacts add column marketing_stopped_at timestamptz;
alter table contacts add column marketing_limited_until timestamptz;

-- How many times this message was already held back by 131049 and sent again later.
alter table outbound_messages add column deferrals integer not null default 0;

-- Messages WhatsApp held back (131049), waiting for their day; moved to the outbox when due.
-- `source_id`: the held-back send it copies, once (a repeated status or attempt adds nothing).
create table deferred_sends (
    id bigint generated always as identity primary key,
    sender_id bigint not null,
    conversation_id bigint not null references conversations (id),
    payload jsonb not null,
    fallback jsonb not null,
    origin text not null,
    deferrals integer not null,
    source_id bigint not null unique,
    due_at timestamptz not null,
    created_at timestamptz not null
);
create index deferred_sends_due on deferred_sends (due_at);
