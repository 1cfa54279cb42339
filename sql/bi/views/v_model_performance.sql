-- BI contract. grain: one row per (use case, score date, model version, role): how the published
-- predictions (role champion) and a challenger's shadow scores (role shadow) fared once labels arrived,
-- next to the version's holdout figures from training.
-- Example: select score_date, role, model_version, average_precision from batchscore.v_model_performance;
create or replace view batchscore.v_model_performance as
select
    perf.use_case,
    perf.score_date,
    perf.model_version,
    perf.role,
    perf.label_count,
    perf.positive_count,
    perf.positive_count::float8 / nullif(perf.label_count, 0) as positive_rate,
    perf.flagged_count,
    perf.threshold,
    perf.average_precision,
    perf.roc_auc,
    perf.brier,
    perf.precision_at_threshold,
    perf.recall_at_threshold,
    perf.status,
    (versions.holdout_metrics ->> 'average_precision')::float8 as holdout_average_precision,
    (versions.holdout_metrics ->> 'roc_auc')::float8           as holdout_roc_auc,
    perf.computed_at
from batchscore.model_performance as perf
left join batchscore.model_versions as versions
    on versions.use_case = perf.use_case and versions.version = perf.model_version
