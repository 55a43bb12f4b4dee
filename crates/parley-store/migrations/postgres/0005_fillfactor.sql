-- Conversations and outbound messages are updated in place several times each (leases,
-- state, send outcomes). Free room on each page lets PostgreSQL keep such an update on the
-- same page without new index entries (a HOT update) whenever no indexed column changes,
-- e.g. when a lease is taken. Applies to pages written from now on.
alter table conversations set (fillfactor = 70);
alter table outbound_messages set (fillfactor = 80);
alter table contacts set (fillfactor = 80);
