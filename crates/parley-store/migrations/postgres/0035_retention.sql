-- Retention (issue 60). A send and a model exchange past their period keep their row, with
-- the columns insights, costs and usage count, once their content is in the archive:
-- `archived_at` says when it went there (null: not archived). `retention_lease`: which
-- process archives (one at a time), until when.
alter table outbound_messages add column archived_at timestamptz;
alter table model_exchanges add column archived_at timestamptz;

create table retention_lease (
    name text primary key,
    lease_owner text not null,
    lease_until timestamptz not null
);
