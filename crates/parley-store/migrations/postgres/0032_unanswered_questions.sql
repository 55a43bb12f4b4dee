-- Questions an agent step's knowledge could not answer (issue 59): a customer's message whose
-- best passage scored below the step's `retrieval.unanswered_below`. One row per flow, step
-- and question as normalized (lower case, words only); `question` is the text as first
-- written (masked when the step masks personal data), `n` how often it was asked,
-- `best_score` the best passage's highest score, the times Unix milliseconds. Added to in the
-- transaction that commits the event, like `flow_insights`; at most 10,000 questions per
-- flow (beyond, only the counts of those already listed grow).
create table unanswered_questions (
    flow text not null,
    step text not null,
    normalized text not null,
    question text not null,
    n bigint not null,
    best_score double precision not null,
    first_seen_ms bigint not null,
    last_seen_ms bigint not null,
    primary key (flow, step, normalized)
);
create index unanswered_questions_by_last_seen on unanswered_questions (last_seen_ms);
