-- The studio's saves of project files (flows, tests, scripts, knowledge, rules): one row per
-- save, with who saved (an API key's name, or `local`), the SHA-256 of the text saved
-- (`version`) and of the text it replaced (`previous`, null for a new file), the text
-- itself (at most the 1 MiB Parley reads of a file), so any version can be restored, and the
-- unified diff from the previous text. `path` is relative to the project folder
-- (`flows/welcome.yaml`).
create table flow_saves (
    id bigserial primary key,
    path text not null,
    at timestamptz not null,
    who text not null,
    version text not null,
    previous text,
    text text not null,
    diff text not null
);
create index flow_saves_by_path on flow_saves (path, id);
