-- One (score date, model version, role) of batchscore.model_performance, replaced when its labels changed.
-- kind: the use case's task kind; metrics: that kind's metrics (jsonb); the binary columns stay null for the
-- other kinds.
insert into batchscore.model_performance (
    use_case, score_date, model_version, role, run_id, kind, label_count, positive_count, flagged_count, threshold,
    average_precision, roc_auc, brier, precision_at_threshold, recall_at_threshold, metrics, status,
    labels_fingerprint)
values (
    :use_case, :score_date, :model_version, :role, :run_id, :kind, :label_count, :positive_count, :flagged_count,
    :threshold, :average_precision, :roc_auc, :brier, :precision_at_threshold, :recall_at_threshold,
    cast(:metrics as jsonb), :status, :labels_fingerprint)
on conflict (use_case, score_date, model_version, role) do update set
    run_id = excluded.run_id,
    kind = excluded.kind,
    label_count = excluded.label_count,
    positive_count = excluded.positive_count,
    flagged_count = excluded.flagged_count,
    threshold = excluded.threshold,
    average_precision = excluded.average_precision,
    roc_auc = excluded.roc_auc,
    brier = excluded.brier,
    precision_at_threshold = excluded.precision_at_threshold,
    recall_at_threshold = excluded.recall_at_threshold,
    metrics = excluded.metrics,
    status = excluded.status,
    labels_fingerprint = excluded.labels_fingerprint,
    computed_at = now()
