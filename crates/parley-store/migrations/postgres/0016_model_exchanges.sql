-- Language-model exchanges (agent steps) and voice-note transcripts, one row per call an
-- event made (`seq` in call order), written before anything the answer led to is sent: a
-- step run again after a crash reads its answer here instead of calling again. The rows are
-- also the usage and cost ledger of models. No foreign keys, like media_downloads: merges
-- move conversations' rows and a ledger row must never stand in the way.
create table model_exchanges (
    id bigserial primary key,
    conversation_id bigint not null,
    event_id bigint not null,
    seq bigint not null,
    kind text not null check (kind in ('chat', 'transcript')),
    flow text not null,
    step text not null,
    model text not null,
    request jsonb not null,
    answer jsonb,
    error text,
    input_tokens bigint not null default 0,
    output_tokens bigint not null default 0,
    cost_micros bigint not null default 0,
    latency_ms bigint not null default 0,
    created_at timestamptz not null,
    unique (event_id, seq)
);
create index model_exchanges_by_conversation on model_exchanges (conversation_id, id);
create index model_exchanges_by_time on model_exchanges (created_at);
