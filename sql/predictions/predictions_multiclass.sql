-- The BI contract of a multiclass use case: one row per (score_date, entity_id), the latest published prediction
-- of that date. {{predictions}} is the configured table name (validated and quoted by pipeline.db.sql).
-- score is the probability of predicted_class; class_probabilities holds every class's probability, in the order
-- of the model version's classes (batchscore.model_versions.classes; the BI views name them).
-- List-partitioned by score_date like every predictions table (publish swaps in a date's partition).
create table if not exists {{predictions}} (
    score_date           date               not null,
    entity_id            text               not null,
    score                double precision   not null check (score >= 0 and score <= 1),
    predicted_class      text               not null,
    class_probabilities  double precision[] not null,
    model_version        text               not null,
    run_id               text               not null,
    scored_at            timestamptz        not null,
    primary key (entity_id, score_date)
) partition by list (score_date);
