-- Shadow scores of a challenger in trial: never read as predictions, kept to compare with them once labels
-- arrive. grain: one row per (score_date, entity_id, model_version).
create table if not exists {{shadow}} (
    score_date       date             not null,
    entity_id        text             not null,
    model_version    text             not null,
    score            double precision not null check (score >= 0 and score <= 1),
    predicted_label  boolean          not null,
    threshold        double precision not null,
    run_id           text             not null,
    scored_at        timestamptz      not null,
    primary key (score_date, entity_id, model_version)
);
