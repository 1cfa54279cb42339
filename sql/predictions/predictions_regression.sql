-- The BI contract of a regression use case: one row per (score_date, entity_id), the latest published prediction
-- of that date. {{predictions}} is the configured table name (validated and quoted by pipeline.db.sql).
-- score is the predicted value; prediction_lower and prediction_upper bound it when the use case declares an
-- interval ([target] interval), else they are null.
-- List-partitioned by score_date like every predictions table (publish swaps in a date's partition).
create table if not exists {{predictions}} (
    score_date        date             not null,
    entity_id         text             not null,
    score             double precision not null,
    prediction_lower  double precision,
    prediction_upper  double precision,
    model_version     text             not null,
    run_id            text             not null,
    scored_at         timestamptz      not null,
    primary key (entity_id, score_date)
) partition by list (score_date);
