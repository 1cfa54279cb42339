-- Evidence of the validation gate.
-- grain: one row per expectation evaluated in one validation (a scoring batch, a freshness probe, or a
-- training/holdout set) of one run.
create table batchscore.validation_results (
    id                bigserial   primary key,
    run_id            text        not null,
    use_case          text        not null,
    score_date        date,
    dataset           text        not null,   -- batch, freshness, training, holdout
    suite             text        not null,
    expectation       text        not null,
    column_name       text,
    check_kind        text,                   -- built-in check kind, null for suite-file expectations
    severity          text        not null check (severity in ('critical', 'warning', 'info')),
    success           boolean     not null,
    observed_value    jsonb,
    unexpected_count  bigint,
    element_count     bigint,
    error             text,
    kwargs            jsonb       not null default '{}'::jsonb,
    validated_at      timestamptz not null default now()
);

create index validation_results_run on batchscore.validation_results (run_id);
create index validation_results_date on batchscore.validation_results (use_case, score_date desc);
