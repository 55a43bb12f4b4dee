-- The cost ledger (README "Costs"). Which flow and step queued each outbound message
-- (null: an API send, or not from a step), and per message what Parley predicted it costs
-- (from the rate card, at enqueue, in the transaction that queued it) and what Meta's
-- status webhooks said (`pricing`). The market's rate for every category is kept with the
-- prediction, so the cost of the category Meta reports is known without the card.
-- No foreign key, like model_exchanges: a ledger row never stands in the way of a merge.
alter table outbound_messages add column flow text;
alter table outbound_messages add column step text;

create table message_costs (
    outbound_id integer primary key,
    sender_id integer not null,
    market text not null,
    currency text not null,
    predicted_category text not null,
    predicted_type text not null,
    predicted_micros integer not null,
    rate_marketing integer not null,
    rate_utility integer not null,
    rate_authentication integer not null,
    rate_service integer not null,
    actual_category text,
    actual_type text,
    actual_billable integer,
    pricing_model text,
    actual_micros integer,
    created_at integer not null,
    updated_at integer not null
);
create index message_costs_by_sender on message_costs (sender_id, created_at);
create index message_costs_by_time on message_costs (created_at);
