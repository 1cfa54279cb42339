-- grain: one row per promotion decision (see batchscore.promotion_decisions).
insert into batchscore.promotion_decisions (
    use_case, actor, run_id, cutoff_date, champion_version, challenger_version, promoted, dry_run, forced,
    rule, champion_metrics, challenger_metrics, improvement, bootstrap, guardrails, reason)
values (
    :use_case, :actor, :run_id, :cutoff_date, :champion_version, :challenger_version, :promoted, :dry_run,
    :forced, cast(:rule as jsonb), cast(:champion_metrics as jsonb), cast(:challenger_metrics as jsonb),
    :improvement, cast(:bootstrap as jsonb), cast(:guardrails as jsonb), :reason)
returning id
