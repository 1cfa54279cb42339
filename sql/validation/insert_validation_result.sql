-- grain: one row per evaluated expectation (see batchscore.validation_results).
insert into batchscore.validation_results (
    run_id, use_case, score_date, dataset, suite, expectation, column_name, check_kind, severity, success,
    observed_value, unexpected_count, element_count, error, kwargs)
values (
    :run_id, :use_case, :score_date, :dataset, :suite, :expectation, :column_name, :check_kind, :severity,
    :success, cast(:observed_value as jsonb), :unexpected_count, :element_count, :error, cast(:kwargs as jsonb))
