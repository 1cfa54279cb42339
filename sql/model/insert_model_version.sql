-- grain: one row per registered model version of a use case (see batchscore.model_versions).
insert into batchscore.model_versions (
    use_case, version, status, created_by, train_from, train_to, holdout_from, holdout_to,
    train_rows, holdout_rows, features, hyperparameters, holdout_metrics, threshold,
    artifact_path, artifact_sha256, sklearn_version, python_version, code_version,
    cutoff_date, labels_known_at, label_definition, drift_reference, kind, classes)
values (
    :use_case, :version, :status, :created_by, :train_from, :train_to, :holdout_from,
    :holdout_to, :train_rows, :holdout_rows, cast(:features as jsonb),
    cast(:hyperparameters as jsonb), cast(:holdout_metrics as jsonb), :threshold,
    :artifact_path, :artifact_sha256, :sklearn_version, :python_version, :code_version,
    :cutoff_date, :labels_known_at, :label_definition, cast(:drift_reference as jsonb), :kind,
    cast(:classes as text[]))
