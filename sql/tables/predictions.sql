-- The BI contract: one row per (score_date, entity_id), the latest published score of that date.
-- {{predictions}} is the configured table name (validated and quoted by pipeline.sqlfiles).
create table if not exists {{predictions}} (
    score_date       date             not null,
    entity_id        text             not null,
    score            double precision not null check (score >= 0 and score <= 1),
    predicted_label  boolean          not null,
    threshold        double precision not null,
    model_version    text             not null,
    run_id           text             not null,
    scored_at        timestamptz      not null,
    primary key (score_date, entity_id)
);

-- "one entity over time"; the primary key already serves "latest date" and "one date"
create index if not exists {{predictions_entity_index}} on {{predictions}} (entity_id, score_date desc);
