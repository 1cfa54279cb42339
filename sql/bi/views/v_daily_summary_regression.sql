-- BI contract, regression use case. grain: one row per score date with published predictions: volume, mean
-- score (the mean predicted value), the model, the validation outcome, the drift it showed, the run's duration
-- (the first thirteen columns are the same in every kind's daily summary), then the predicted values' mean and
-- 10th, 50th and 90th percentiles, and the mean width of the interval (null without one).
-- Example: select score_date, mean_prediction, prediction_p10, prediction_p90 from batchscore.v_x_daily_summary;
create or replace view {{view}} as
with daily as (
    select
        score_date,
        count(*)                                    as rows_scored,
        avg(score)                                  as mean_score,
        percentile_cont(0.1) within group (order by score) as prediction_p10,
        percentile_cont(0.5) within group (order by score) as prediction_p50,
        percentile_cont(0.9) within group (order by score) as prediction_p90,
        avg(prediction_upper - prediction_lower)    as mean_interval_width,
        min(model_version)                          as model_version,
        min(run_id)                                 as run_id
    from {{predictions}}
    group by score_date
),
runs as (
    select
        run_id,
        validation_status,
        rows_in,
        started_at,
        finished_at                                 as published_at,
        extract(epoch from finished_at - started_at)::float8 as run_seconds
    from batchscore.scoring_runs
    where use_case = {{use_case}} and status = 'succeeded'
),
warnings as (
    select run_id, count(*) as validation_warnings
    from batchscore.validation_results
    where use_case = {{use_case}} and severity = 'warning' and not success
    group by run_id
),
drift as (
    select
        run_id,
        count(*) filter (where status = 'drift')   as drifted_metrics,
        max(value) filter (where metric = 'psi' and feature = 'score') as score_psi,
        max(value) filter (where metric = 'psi' and feature = 'predicted_class') as class_share_psi
    from batchscore.drift_metrics
    where use_case = {{use_case}}
    group by run_id
)
select
    {{use_case}}::text                          as use_case,
    'regression'::text                          as kind,
    daily.score_date,
    daily.rows_scored,
    daily.mean_score,
    daily.model_version,
    runs.validation_status,
    coalesce(warnings.validation_warnings, 0)   as validation_warnings,
    coalesce(drift.drifted_metrics, 0)          as drifted_metrics,
    drift.score_psi,
    runs.run_seconds,
    runs.published_at,
    daily.run_id,
    daily.mean_score                            as mean_prediction,
    daily.prediction_p10,
    daily.prediction_p50,
    daily.prediction_p90,
    daily.mean_interval_width
from daily
left join runs using (run_id)
left join warnings using (run_id)
left join drift using (run_id)
