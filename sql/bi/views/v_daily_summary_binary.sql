-- BI contract, binary use case. grain: one row per score date with published predictions: volume, mean score
-- (P(positive)), the model, the validation outcome, the drift it showed, the run's duration, then the share
-- flagged (score >= threshold). The first thirteen columns are the same in every kind's daily summary.
-- Example: select * from batchscore.v_daily_summary order by score_date desc limit 14;
create or replace view {{view}} as
with daily as (
    select
        score_date,
        count(*)                                    as rows_scored,
        avg(score)                                  as mean_score,
        avg(predicted_label::int)::float8           as flagged_share,
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
    'binary'::text                              as kind,
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
    daily.flagged_share
from daily
left join runs using (run_id)
left join warnings using (run_id)
left join drift using (run_id)
