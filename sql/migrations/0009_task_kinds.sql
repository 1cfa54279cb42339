-- Task kinds (issue 14): a use case is binary, multiclass or regression. A version records its kind and, for
-- a classifier of several classes, the classes in the order its class probabilities are stored; only binary
-- versions have a threshold. Nightly performance keeps the kind's metrics in `metrics` (binary keeps its
-- columns as well, which BI reads).

alter table batchscore.model_versions
    add column kind text not null default 'binary' check (kind in ('binary', 'multiclass', 'regression')),
    add column classes text[],
    alter column threshold drop not null;

alter table batchscore.model_performance
    add column kind text not null default 'binary' check (kind in ('binary', 'multiclass', 'regression')),
    add column metrics jsonb not null default '{}'::jsonb,
    alter column positive_count drop not null,
    alter column flagged_count drop not null,
    alter column threshold drop not null,
    alter column brier drop not null;
