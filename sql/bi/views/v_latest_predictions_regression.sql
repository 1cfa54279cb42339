-- BI contract, regression use case. grain: one row per entity: its prediction for the latest score date it was
-- scored on. The first eight columns are the same in every kind's view; score and predicted_value are both the
-- predicted value; prediction_lower and prediction_upper bound it when the use case publishes an interval
-- ([target] interval), else they are null.
-- Example: select entity_id, predicted_value, prediction_lower, prediction_upper from batchscore.v_x_latest_predictions;
create or replace view {{view}} as
select distinct on (entity_id)
    {{use_case}}::text    as use_case,
    'regression'::text    as kind,
    entity_id,
    score_date,
    score,
    model_version,
    run_id,
    scored_at,
    score                 as predicted_value,
    prediction_lower,
    prediction_upper
from {{predictions}}
order by entity_id, score_date desc
