-- BI contract, multiclass use case. grain: one row per score date with published predictions: volume, mean
-- score (the mean probability of the predicted class: the model's confidence), the model, the validation outcome,
-- the drift it showed, the run's duration (the first thirteen columns are the same in every kind's daily summary),
-- then the share of each predicted class (a jsonb object class -> share over every class of the model version),
-- the most predicted class and its share, and the PSI of the class shares against the version's holdout.
-- Example: select score_date, class_shares ->> 'late' as late_share from batchscore.v_x_daily_summary;
create or replace view {{view}} as
with daily as (
    select
        score_date,
        count(*)                                    as rows_scored,
        avg(score)                                  as mean_score,
        min(model_version)                          as model_version,
        min(run_id)                                 as run_id
    from {{predictions}}
    group by score_date
),
class_counts as (
    select score_date, predicted_class, count(*) as n
    from {{predictions}}
    group by score_date, predicted_class
),
shares as (
    select
        daily.score_date,
        jsonb_object_agg(class.name, coalesce(class_counts.n, 0)::float8 / daily.rows_scored) as class_shares
    from daily
    join batchscore.model_versions as versions
        on versions.use_case = {{use_case}} and versions.version = daily.model_version
    cross join lateral unnest(versions.classes) as class(name)
    left join class_counts on class_counts.score_date = daily.score_date and class_counts.predicted_class = class.name
    group by daily.score_date
),
top_class as (
    select distinct on (score_date) score_date, predicted_class as top_class, n
    from class_counts
    order by score_date, n desc, predicted_class
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
    'multiclass'::text                          as kind,
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
    shares.class_shares,
    top_class.top_class,
    top_class.n::float8 / daily.rows_scored     as top_class_share,
    drift.class_share_psi
from daily
left join runs using (run_id)
left join warnings using (run_id)
left join drift using (run_id)
left join shares using (score_date)
left join top_class using (score_date)
