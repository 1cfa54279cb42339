-- One run's predictions of one score date, before publish: a table shaped like a partition of {{predictions}}
-- (same columns and checks), filled by score and attached by publish. grain: one row per entity_id.
-- The columns that are constant for the run are defaults, so score streams only entity_id and the kind's
-- prediction columns; scored_at is the moment the scores were written. (A binary table's threshold gets its
-- default from staged_predictions_threshold.sql.)
create table {{staged}} (like {{predictions}} including defaults including constraints);
alter table {{staged}}
    alter column score_date set default cast(:score_date as date),
    alter column model_version set default cast(:model_version as text),
    alter column run_id set default cast(:run_id as text),
    alter column scored_at set default now(),
    add constraint staged_score_date check (score_date = cast(:score_date as date))
