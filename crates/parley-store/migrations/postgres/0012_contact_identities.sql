-- A contact is known by its phone number, its business-scoped user id (BSUID), or both;
-- neither is required. `key` stays the address Parley sends to: the phone when known,
-- else `bsuid:<id>`. A contact merged into another keeps its row as a tombstone
-- (`merged_into`, identities cleared, key `merged:<id>`) so rows that name it stay valid.
alter table contacts add column phone text;
alter table contacts add column bsuid text;
alter table contacts add column username text;
alter table contacts add column merged_into bigint references contacts (id);

update contacts set phone = key where key not like 'bsuid:%';
update contacts set bsuid = substr(key, 7) where key like 'bsuid:%';

create unique index contacts_phone on contacts (phone) where phone is not null;
create unique index contacts_bsuid on contacts (bsuid) where bsuid is not null;
