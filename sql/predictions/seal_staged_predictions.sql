-- Turn a run's staged predictions (sql/predictions/staged_predictions.sql) into a finished partition, outside the
-- publish transaction: the run's defaults go, the key is built once on the whole date (a duplicate entity
-- fails here), and the date check stays, so attaching needs no scan. grain: one row per entity_id.
alter table {{staged}}
    alter column score_date drop default,
    alter column model_version drop default,
    alter column run_id drop default,
    alter column scored_at drop default,
    add primary key (entity_id, score_date)
