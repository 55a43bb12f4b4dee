-- Conversation routing (issue 57): who owns each conversation's thread on a shared number.
-- The engine keeps the owner in the conversation's state (`state.thread`: owner, app, since,
-- reason), committed with each step; this column reads its owner (`parley`, `app`, `idle`;
-- null: no routing ever seen) so the counts per sender and owner are one index read.
alter table conversations add column thread_owner text
    generated always as (state #>> '{thread,owner}') stored;
create index conversations_by_thread_owner on conversations (sender_id, thread_owner)
    where thread_owner is not null;
