-- The audit log (issue 60): every change made through the API, the CLI or the pages, by
-- whom (`actor`: an API key's name, `cli` with the user, a page's key), how (`via`: api, cli,
-- page), what (`action`, like `contacts.update`; `target`, like a contact's phone), from
-- where (`source`: the client's address), with `detail` a small JSON object that never holds
-- a secret or a message body. `at` in Unix milliseconds. Retention applies (`retention.audit`).
create table audit_log (
    id integer primary key,
    at integer not null,
    actor text not null,
    via text not null,
    action text not null,
    target text,
    source text,
    status integer,
    detail text not null default '{}'
);
create index audit_log_by_at on audit_log (at);
