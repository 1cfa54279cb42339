-- One (score date, model version, role) of batchscore.model_performance, replaced when its labels changed.
insert into batchscore.model_performance (
    use_case, score_date, model_version, role, run_id, label_count, positive_count, flagged_count, threshold,
    average_precision, roc_auc, brier, precision_at_threshold, recall_at_threshold, status, labels_fingerprint)
values (
    :use_case, :score_date, :model_version, :role, :run_id, :label_count, :positive_count, :flagged_count,
    :threshold, :average_precision, :roc_auc, :brier, :precision_at_threshold, :recall_at_threshold, :status,
    :labels_fingerprint)
on conflict (use_case, score_date, model_version, role) do update set
    run_id = excluded.run_id,
    label_count = excluded.label_count,
    positive_count = excluded.positive_count,
    flagged_count = excluded.flagged_count,
    threshold = excluded.threshold,
    average_precision = excluded.average_precision,
    roc_auc = excluded.roc_auc,
    brier = excluded.brier,
    precision_at_threshold = excluded.precision_at_threshold,
    recall_at_threshold = excluded.recall_at_threshold,
    status = excluded.status,
    labels_fingerprint = excluded.labels_fingerprint,
    computed_at = now()
