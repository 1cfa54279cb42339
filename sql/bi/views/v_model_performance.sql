-- BI contract. grain: one row per (use case, score date, model version, role): how the published
-- predictions (role champion) and a challenger's shadow scores (role shadow) fared once labels arrived,
-- next to the version's holdout figures from training. Every kind: label_count, status, and the kind's headline
-- metric (headline_metric: average_precision for binary, macro_f1 for multiclass, mae for regression) with its
-- value and the holdout's, so one chart covers every use case; then the binary columns, the multiclass and
-- regression figures (null for the other kinds), and all of the kind's metrics as jsonb (metrics).
-- Example: select use_case, score_date, headline_metric, headline_value, holdout_headline_value, status
--          from batchscore.v_model_performance where role = 'champion';
create or replace view batchscore.v_model_performance as
with perf as (
    select
        performance.*,
        case performance.kind
            when 'binary' then 'average_precision'
            when 'multiclass' then 'macro_f1'
            else 'mae'
        end as headline_metric
    from batchscore.model_performance as performance
)
select
    perf.use_case,
    perf.kind,
    perf.score_date,
    perf.model_version,
    perf.role,
    perf.label_count,
    perf.status,
    perf.headline_metric,
    case when perf.kind = 'binary' then perf.average_precision
         else (perf.metrics ->> perf.headline_metric)::float8 end          as headline_value,
    (versions.holdout_metrics ->> perf.headline_metric)::float8             as holdout_headline_value,
    perf.positive_count,
    perf.positive_count::float8 / nullif(perf.label_count, 0)             as positive_rate,
    perf.flagged_count,
    perf.threshold,
    perf.average_precision,
    perf.roc_auc,
    perf.brier,
    perf.precision_at_threshold,
    perf.recall_at_threshold,
    (versions.holdout_metrics ->> 'average_precision')::float8             as holdout_average_precision,
    (versions.holdout_metrics ->> 'roc_auc')::float8                       as holdout_roc_auc,
    (perf.metrics ->> 'log_loss')::float8                                  as log_loss,
    (perf.metrics ->> 'macro_f1')::float8                                  as macro_f1,
    (perf.metrics ->> 'accuracy')::float8                                  as accuracy,
    (versions.holdout_metrics ->> 'log_loss')::float8                      as holdout_log_loss,
    (versions.holdout_metrics ->> 'macro_f1')::float8                      as holdout_macro_f1,
    (perf.metrics ->> 'mae')::float8                                       as mae,
    (perf.metrics ->> 'rmse')::float8                                      as rmse,
    (perf.metrics ->> 'r2')::float8                                        as r2,
    (perf.metrics ->> 'bias')::float8                                      as bias,
    (perf.metrics ->> 'interval_coverage')::float8                         as interval_coverage,
    (versions.holdout_metrics ->> 'mae')::float8                           as holdout_mae,
    (versions.holdout_metrics ->> 'interval_coverage')::float8             as holdout_interval_coverage,
    perf.metrics,
    perf.computed_at
from perf
left join batchscore.model_versions as versions
    on versions.use_case = perf.use_case and versions.version = perf.model_version
