-- BI contract. grain: one row per entity: its prediction for the latest score date it was scored on.
-- Example: select * from batchscore.v_latest_predictions where predicted_label order by score desc;
create or replace view {{view}} as
select distinct on (entity_id)
    entity_id,
    score_date,
    score,
    predicted_label,
    threshold,
    model_version,
    run_id,
    scored_at
from {{predictions}}
order by entity_id, score_date desc
