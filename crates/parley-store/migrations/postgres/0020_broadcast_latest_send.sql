-- A broadcast's progress reads each recipient's latest send (`max(id)` per
-- `broadcast_recipient`, a 131049 copy after its original). Indexed by recipient alone, the
-- database walked the primary key backwards instead, and on PostgreSQL the progress of a
-- 2,500-recipient broadcast took 5-10 s (and slowed everything else while the sandbox page
-- or the API polled it). With the id in the index it is one index probe per recipient.
create index outbound_messages_broadcast_latest on outbound_messages (broadcast_recipient, id)
    where broadcast_recipient is not null;
drop index outbound_messages_broadcast;
