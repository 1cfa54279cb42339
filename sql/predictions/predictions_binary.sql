-- The BI contract of a binary use case: one row per (score_date, entity_id), the latest published score of that date.
-- {{predictions}} is the configured table name (validated and quoted by pipeline.db.sql).
-- List-partitioned by score_date: publish swaps in a date's partition, built and indexed beforehand, so a
-- night's million rows are never inserted into (and indexed by) the live table. The key leads with
-- entity_id: it serves "one entity over time"; "one date" and "latest date" are partition pruning.
create table if not exists {{predictions}} (
    score_date       date             not null,
    entity_id        text             not null,
    score            double precision not null check (score >= 0 and score <= 1),
    predicted_label  boolean          not null,
    threshold        double precision not null,
    model_version    text             not null,
    run_id           text             not null,
    scored_at        timestamptz      not null,
    primary key (entity_id, score_date)
) partition by list (score_date);
