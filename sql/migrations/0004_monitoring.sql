-- Monitoring: drift after every nightly run, performance once labels arrive, and the alerts they raise.

-- The reference each model version is compared with: the distribution of its training data (quantile bins
-- of numeric features, category shares, null rates) and of its holdout scores. Written at training time.
alter table batchscore.model_versions add column drift_reference jsonb;

-- grain: one row per (use case, score date, scoring run, feature, metric). Only the rows of the run that was
-- published for a date count (the monitor step prunes those of runs that never published).
create table batchscore.drift_metrics (
    id              bigserial        primary key,
    use_case        text             not null,
    score_date      date             not null,
    run_id          text             not null,
    model_version   text             not null,
    feature         text             not null,   -- a model feature, or "score" for the model's output
    metric          text             not null check (metric in ('psi', 'null_rate_delta', 'unseen_share')),
    value           double precision not null,
    threshold       double precision not null,
    status          text             not null check (status in ('ok', 'drift', 'insufficient')),  -- insufficient: too few rows to judge, never alerts
    sample_rows     bigint           not null,
    reference_rows  bigint           not null,
    computed_at     timestamptz      not null default now(),
    unique (use_case, score_date, run_id, feature, metric)
);

create index drift_metrics_date on batchscore.drift_metrics (use_case, score_date desc);

-- grain: one row per (use case, score date, model version, role): how the published predictions (role
-- "champion") and the shadow scores of a challenger (role "shadow") fared once the labels became known.
create table batchscore.model_performance (
    use_case                text             not null,
    score_date              date             not null,
    model_version           text             not null,
    role                    text             not null check (role in ('champion', 'shadow')),
    run_id                  text             not null,
    label_count             integer          not null,
    positive_count          integer          not null,
    flagged_count           integer          not null,
    threshold               double precision not null,
    average_precision       double precision,  -- null when only one class is present
    roc_auc                 double precision,  -- null when only one class is present
    brier                   double precision not null,
    precision_at_threshold  double precision,  -- null when nothing was flagged
    recall_at_threshold     double precision,  -- null when nothing was positive
    status                  text             not null check (status in ('ok', 'degraded', 'insufficient')),
    labels_fingerprint      text             not null,  -- recomputed when late labels change it
    computed_at             timestamptz      not null default now(),
    primary key (use_case, score_date, model_version, role)
);

-- grain: one row per breach (a failed run, a validation warning, a drifted metric, a degraded performance),
-- so that every breach is notified once however often the monitor runs.
create table batchscore.alerts (
    id             bigserial   primary key,
    use_case       text        not null,
    kind           text        not null check (kind in ('run_failed', 'validation_warning', 'drift', 'performance')),
    alert_key      text        not null,
    score_date     date,
    model_version  text,
    message        text        not null,
    details        jsonb       not null default '{}'::jsonb,
    raised_at      timestamptz not null default now(),
    unique (use_case, kind, alert_key)
);

create index alerts_raised on batchscore.alerts (use_case, raised_at desc);
