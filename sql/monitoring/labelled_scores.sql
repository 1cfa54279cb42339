-- Scores joined to the outcomes known by :as_of, for score dates :date_from..:date_to.
-- grain: one row per scored (score_date, entity_id, model_version) whose label is known.
with labels as materialized (  -- computed once: the planner misjudges fresh predictions and loops otherwise
/* labels query */
)
select
    scored.score_date,
    scored.entity_id,
    scored.model_version,
    scored.run_id,
    scored.score,
    scored.threshold,
    labels.label
from {{scored}} as scored
join labels using (entity_id, score_date)
where scored.score_date between cast(:date_from as date) and cast(:date_to as date)
  and labels.label_known_at <= cast(:as_of as timestamptz)
