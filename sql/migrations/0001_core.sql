-- Core tables of batchscore: the model registry and the scoring-run ledger.
-- Predictions tables are per use case (their name is configurable): see sql/tables/predictions.sql.

create schema if not exists batchscore;
-- run-scoped working tables (batch, features, scores); dropped after publish
create schema if not exists batchscore_staging;

-- grain: one row per trained model version of a use case.
create table batchscore.model_versions (
    use_case          text        not null,
    version           text        not null,
    status            text        not null
        check (status in ('candidate', 'champion', 'archived', 'rejected')),
    created_at        timestamptz not null default now(),
    created_by        text        not null,
    train_from        date        not null,
    train_to          date        not null,
    holdout_from      date        not null,
    holdout_to        date        not null,
    train_rows        integer     not null,
    holdout_rows      integer     not null,
    features          jsonb       not null,
    hyperparameters   jsonb       not null,
    holdout_metrics   jsonb       not null,
    threshold         double precision not null,
    artifact_path     text        not null,
    artifact_sha256   text        not null check (artifact_sha256 ~ '^[0-9a-f]{64}$'),
    sklearn_version   text        not null,
    python_version    text        not null,
    code_version      text        not null,
    primary key (use_case, version)
);

-- at most one champion per use case, enforced by the database
create unique index model_versions_one_champion
    on batchscore.model_versions (use_case) where status = 'champion';

-- grain: one row per finished attempt to score a date (succeeded, rejected or failed).
create table batchscore.scoring_runs (
    id                 bigserial   primary key,
    use_case           text        not null,
    score_date         date        not null,
    run_id             text        not null,
    status             text        not null check (status in ('succeeded', 'rejected', 'failed')),
    reason             text,
    model_version      text,
    model_sha256       text,
    predictions_table  text,
    rows_in            integer,
    rows_out           integer,
    validation_status  text,
    timings            jsonb       not null default '{}'::jsonb,
    started_at         timestamptz,
    finished_at        timestamptz not null default now()
);

create index scoring_runs_date on batchscore.scoring_runs (use_case, score_date, finished_at desc);
