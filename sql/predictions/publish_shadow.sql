-- Replace one score date's shadow scores of one challenger version (inside publish's transaction).
-- grain of the result: one row per (score_date, entity_id, model_version).
insert into {{shadow}} (score_date, entity_id, model_version, score, predicted_label, threshold, run_id, scored_at)
select
    cast(:score_date as date),
    entity_id,
    :model_version,
    score,
    predicted_label,
    :threshold,
    :run_id,
    now()
from {{scores}}
