-- Retraining, champion/challenger promotion, rollback and shadow scoring.

alter table batchscore.model_versions
    add column cutoff_date        date,
    add column labels_known_at    timestamptz,
    add column label_definition   text,
    add column status_changed_at  timestamptz not null default now();

-- grain: one row per promotion decision (promoted or not, dry runs and rollbacks included).
create table batchscore.promotion_decisions (
    id                  bigserial   primary key,
    use_case            text        not null,
    decided_at          timestamptz not null default now(),
    actor               text        not null check (actor in ('schedule', 'manual', 'rollback', 'cli', 'demo', 'tests')),
    run_id              text        not null,
    cutoff_date         date,
    champion_version    text,           -- the champion when the decision was taken
    challenger_version  text        not null,
    promoted            boolean     not null,
    dry_run             boolean     not null default false,
    forced              boolean     not null default false,
    rule                jsonb       not null default '{}'::jsonb,
    champion_metrics    jsonb,
    challenger_metrics  jsonb,
    improvement         double precision,
    bootstrap           jsonb       not null default '{}'::jsonb,
    guardrails          jsonb       not null default '{}'::jsonb,
    reason              text        not null check (length(trim(reason)) > 0)
);

create index promotion_decisions_use_case on batchscore.promotion_decisions (use_case, decided_at desc);
