-- grain: one ledger row per finished scoring attempt (see batchscore.scoring_runs).
insert into batchscore.scoring_runs (
    use_case, score_date, run_id, status, reason, model_version, model_sha256, predictions_table,
    rows_in, rows_out, validation_status, timings, started_at)
values (
    :use_case, :score_date, :run_id, :status, :reason, :model_version, :model_sha256, :predictions_table,
    :rows_in, :rows_out, :validation_status, cast(:timings as jsonb), :started_at)
