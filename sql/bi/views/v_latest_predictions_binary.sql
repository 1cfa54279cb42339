-- BI contract, binary use case. grain: one row per entity: its prediction for the latest score date it was
-- scored on. The first eight columns are the same in every kind's view (a union over use cases needs no
-- cast); score is P(positive), predicted_label is score >= threshold.
-- Example: select * from batchscore.v_latest_predictions where predicted_label order by score desc;
create or replace view {{view}} as
select distinct on (entity_id)
    {{use_case}}::text    as use_case,
    'binary'::text        as kind,
    entity_id,
    score_date,
    score,
    model_version,
    run_id,
    scored_at,
    predicted_label,
    threshold
from {{predictions}}
order by entity_id, score_date desc
