-- One drift metric of one scoring run (see batchscore.drift_metrics).
insert into batchscore.drift_metrics (
    use_case, score_date, run_id, model_version, feature, metric, value, threshold, status, sample_rows,
    reference_rows)
values (
    :use_case, :score_date, :run_id, :model_version, :feature, :metric, :value, :threshold, :status,
    :sample_rows, :reference_rows)
