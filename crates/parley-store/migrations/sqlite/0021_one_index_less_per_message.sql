-- A sender's unprocessed events were indexed twice: by conversation (the inbox's index) and
-- by sender (only for the scheduler's backlog count). Every inbound message wrote both when
-- it was stored and again when it was processed: about 1.5 pages of WAL per message on
-- SQLite. The backlog count now walks the inbox's index, which holds only the waiting
-- events, so its size is the backlog itself.
drop index conversation_events_sender_pending;
