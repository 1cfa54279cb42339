-- BI contract, multiclass use case. grain: one row per entity: its prediction for the latest score date it was
-- scored on. The first eight columns are the same in every kind's view; score is the probability of
-- predicted_class; class_probabilities names every class of the model version (batchscore.model_versions.classes,
-- the order the table stores them in): a jsonb object class -> probability.
-- Example: select entity_id, predicted_class, class_probabilities ->> 'late' from batchscore.v_x_latest_predictions;
create or replace view {{view}} as
with latest as (
    select distinct on (entity_id) *
    from {{predictions}}
    order by entity_id, score_date desc
)
select
    {{use_case}}::text          as use_case,
    'multiclass'::text          as kind,
    latest.entity_id,
    latest.score_date,
    latest.score,
    latest.model_version,
    latest.run_id,
    latest.scored_at,
    latest.predicted_class,
    (
        select jsonb_object_agg(class.name, class.probability)
        from unnest(versions.classes, latest.class_probabilities) as class(name, probability)
        where class.name is not null
    )                           as class_probabilities
from latest
left join batchscore.model_versions as versions
    on versions.use_case = {{use_case}} and versions.version = latest.model_version
