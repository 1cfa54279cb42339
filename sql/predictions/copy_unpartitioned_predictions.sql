-- Converting a predictions table made before partitioning: every row of the old table {{old}} into the new
-- partitioned {{predictions}} (whose date partitions exist). grain: one row per (score_date, entity_id).
insert into {{predictions}} (
    score_date, entity_id, score, predicted_label, threshold, model_version, run_id, scored_at)
select score_date, entity_id, score, predicted_label, threshold, model_version, run_id, scored_at
from {{old}}
