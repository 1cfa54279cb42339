-- BI contract. grain: one row per entity: its prediction for the latest score date it was scored on.
-- Example: select * from batchscore.v_latest_predictions where predicted_label order by score desc;
create or replace view {{view}} as
with ranked as (
    select
        entity_id,
        score_date,
        score,
        predicted_label,
        threshold,
        model_version,
        run_id,
        scored_at,
        row_number() over (partition by entity_id order by score_date desc) as recency
    from {{predictions}}
)
select
    entity_id,
    score_date,
    score,
    predicted_label,
    threshold,
    model_version,
    run_id,
    scored_at
from ranked
where recency = 1
