-- grain: one ledger row per finished scoring attempt of a (use case, score date, run id), numbered here (the caller
-- holds the date's advisory lock). A success supersedes an earlier success of the same run id (a cleared Airflow run
-- that publishes again), in the same statement, so the ledger keeps one `succeeded` row per published run.
with superseded as (
    update batchscore.scoring_runs set status = 'superseded'
    where use_case = :use_case and score_date = :score_date and run_id = :run_id
      and status = 'succeeded' and cast(:status as text) = 'succeeded'
    returning id
)
insert into batchscore.scoring_runs (
    use_case, score_date, run_id, attempt, status, reason, model_version, model_sha256, predictions_table,
    rows_in, rows_out, validation_status, timings, started_at)
select
    :use_case, :score_date, :run_id,
    (select coalesce(max(attempt), 0) + 1 from batchscore.scoring_runs
      where use_case = :use_case and score_date = :score_date and run_id = :run_id),
    :status, :reason, :model_version, :model_sha256, :predictions_table,
    :rows_in, :rows_out, :validation_status, cast(:timings as jsonb), :started_at
from (select count(*) from superseded) as after_the_update  -- the update runs first: the unique index sees it
