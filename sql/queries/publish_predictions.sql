-- Replace one score date's predictions with the run's scores (runs inside publish's transaction).
-- grain of the result: one row per (score_date, entity_id).
insert into {{predictions}} (
    score_date, entity_id, score, predicted_label, threshold, model_version, run_id, scored_at)
select
    cast(:score_date as date),
    entity_id,
    score,
    predicted_label,
    :threshold,
    :model_version,
    :run_id,
    now()
from {{scores}}
