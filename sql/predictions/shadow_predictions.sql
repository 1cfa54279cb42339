-- Shadow scores of a challenger in trial: never read as predictions, kept to compare with them once labels
-- arrive. Shaped like the use case's predictions table {{predictions}} (the same columns and checks for its task
-- kind), not partitioned. grain: one row per (score_date, entity_id, model_version).
create table if not exists {{shadow}} (
    like {{predictions}} including constraints,
    primary key (score_date, entity_id, model_version)
)
