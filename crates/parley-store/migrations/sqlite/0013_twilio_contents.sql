-- Twilio Content API templates Parley created for buttons and lists (quick-reply,
-- list-picker), by account and a hash of the template, so every process and every restart
-- sends by the same Content SID instead of creating the template again.
create table twilio_contents (
    account_sid text not null,
    content_hash text not null,
    content_sid text not null,
    created_at integer not null,
    primary key (account_sid, content_hash)
);
