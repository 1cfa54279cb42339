-- BI contract. grain: one row per (use case, score date, feature, metric) of the run published for that
-- date: the drift of the inputs and of the score against the model version's training reference.
-- status: ok, drift (beyond threshold) or insufficient (batch too small to judge).
-- Example: select score_date, feature, value from batchscore.v_drift where status = 'drift';
create or replace view batchscore.v_drift as
with published as (
    select distinct on (use_case, score_date) use_case, score_date, run_id
    from batchscore.scoring_runs
    where status = 'succeeded'
    order by use_case, score_date, finished_at desc
)
select
    drift.use_case,
    drift.score_date,
    drift.model_version,
    drift.feature,
    drift.metric,
    drift.value,
    drift.threshold,
    drift.status,
    drift.sample_rows,
    drift.reference_rows,
    drift.computed_at
from batchscore.drift_metrics as drift
join published using (use_case, score_date, run_id)
