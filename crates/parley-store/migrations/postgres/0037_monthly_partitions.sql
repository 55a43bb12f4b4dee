-- The big append-only tables partitioned by month of their time column (issue 60), so that
-- retention drops a whole old month (`store/postgres/partitions.rs`) instead of deleting its
-- rows one by one: model_exchanges (created_at), events_out (at), event_deliveries
-- (event_at, copied from its event) and audit_log (at, Unix milliseconds). Months are UTC
-- months, named `<table>_pYYYYMM`; `<table>_default` takes any row no month holds (a clock
-- far off, a month not created yet), so an insert never fails.
--
-- A partitioned table's keys must hold its partition column: the primary keys become
-- (id, time), event_deliveries' (endpoint, event_id) becomes (endpoint, event_id, event_at)
-- (the same key: a delivery's event_at is its event's), and model_exchanges' (event_id, seq)
-- becomes (event_id, seq, created_at), its uniqueness across months kept by the store's
-- insert (an advisory lock per event, then a look). conversation_events and
-- outbound_messages stay as they are: their deduplication by provider id must hold across
-- all time, which no key with a month in it can promise.
--
-- For an existing database each table is renamed, the partitioned one created with the
-- same columns, defaults, checks and indexes and the same id sequence, the months its rows
-- span (at most 24 back) created, the rows moved, and the old table dropped. The process
-- creates the months ahead at every start and daily (`ensure_months_ahead`).

alter table model_exchanges rename to model_exchanges_unpartitioned;
alter table model_exchanges_unpartitioned drop constraint model_exchanges_pkey;
alter table model_exchanges_unpartitioned drop constraint model_exchanges_event_id_seq_key;
drop index model_exchanges_by_conversation;
drop index model_exchanges_by_time;
create table model_exchanges (
    like model_exchanges_unpartitioned including defaults including constraints
) partition by range (created_at);
alter table model_exchanges add constraint model_exchanges_pkey primary key (id, created_at);
alter table model_exchanges add constraint model_exchanges_event_id_seq_key
    unique (event_id, seq, created_at);
create index model_exchanges_by_conversation on model_exchanges (conversation_id, id);
create index model_exchanges_by_time on model_exchanges (created_at);
alter sequence model_exchanges_id_seq owned by model_exchanges.id;

alter table events_out rename to events_out_unpartitioned;
alter table events_out_unpartitioned drop constraint events_out_pkey;
create table events_out (
    like events_out_unpartitioned including defaults including constraints
) partition by range (at);
alter table events_out add constraint events_out_pkey primary key (id, at);
alter sequence events_out_id_seq owned by events_out.id;

alter table event_deliveries rename to event_deliveries_unpartitioned;
alter table event_deliveries_unpartitioned drop constraint event_deliveries_pkey;
alter table event_deliveries_unpartitioned drop constraint event_deliveries_endpoint_event_id_key;
drop index event_deliveries_due;
drop index event_deliveries_conversation;
drop index event_deliveries_leased;
create table event_deliveries (
    like event_deliveries_unpartitioned including defaults including constraints
) partition by range (event_at);
alter table event_deliveries add constraint event_deliveries_pkey primary key (id, event_at);
alter table event_deliveries add constraint event_deliveries_endpoint_event_id_key
    unique (endpoint, event_id, event_at);
create index event_deliveries_due on event_deliveries (endpoint, next_at, event_id)
    where state = 'pending';
create index event_deliveries_conversation on event_deliveries (endpoint, conversation_id, event_id)
    where state = 'pending';
create index event_deliveries_leased on event_deliveries (lease_owner)
    where lease_owner is not null;
alter sequence event_deliveries_id_seq owned by event_deliveries.id;

alter table audit_log rename to audit_log_unpartitioned;
alter table audit_log_unpartitioned drop constraint audit_log_pkey;
drop index audit_log_by_at;
create table audit_log (
    like audit_log_unpartitioned including defaults including constraints
) partition by range (at);
alter table audit_log add constraint audit_log_pkey primary key (id, at);
create index audit_log_by_at on audit_log (at);
alter sequence audit_log_id_seq owned by audit_log.id;

-- The months of the rows already there (at most 24 back: older rows go to the default
-- partition), this month and the next three; then the rows, then the old tables go.
do $$
declare
    t record;
    this_month timestamp := date_trunc('month', now() at time zone 'utc');
    first_month timestamp;
    m timestamp;
begin
    for t in
        select * from (values
            ('model_exchanges', 'created_at', false),
            ('events_out', 'at', false),
            ('event_deliveries', 'event_at', false),
            ('audit_log', 'at', true)) as v(name, col, millis)
    loop
        execute format(
            'select date_trunc(''month'', min(%s) at time zone ''utc'') from %I',
            case when t.millis then format('to_timestamp(%I / 1000.0)', t.col)
                 else quote_ident(t.col) end,
            t.name || '_unpartitioned')
            into first_month;
        m := greatest(least(coalesce(first_month, this_month), this_month),
                      this_month - interval '24 months');
        while m <= this_month + interval '3 months' loop
            execute format(
                'create table %I partition of %I for values from (%s) to (%s)',
                t.name || '_p' || to_char(m, 'YYYYMM'),
                t.name,
                case when t.millis
                     then (extract(epoch from m)::bigint * 1000)::text
                     else quote_literal(to_char(m, 'YYYY-MM-DD') || ' 00:00:00+00') end,
                case when t.millis
                     then (extract(epoch from m + interval '1 month')::bigint * 1000)::text
                     else quote_literal(to_char(m + interval '1 month', 'YYYY-MM-DD')
                                        || ' 00:00:00+00') end);
            m := m + interval '1 month';
        end loop;
        execute format('create table %I partition of %I default',
                       t.name || '_default', t.name);
        execute format('insert into %I select * from %I', t.name, t.name || '_unpartitioned');
        execute format('drop table %I', t.name || '_unpartitioned');
    end loop;
end
$$;
