-- Stored outputs joined to the outcomes known by :as_of, for score dates :date_from..:date_to.
-- grain: one row per scored (score_date, entity_id, model_version) whose label is known: every column of the
-- predictions or shadow table (its task kind's columns, sql/predictions/predictions_<kind>.sql) and the label.
with labels as materialized (  -- computed once: the planner misjudges fresh predictions and loops otherwise
/* labels query */
)
select
    scored.*,
    labels.label
from {{scored}} as scored
join labels using (entity_id, score_date)
where scored.score_date between cast(:date_from as date) and cast(:date_to as date)
  and labels.label_known_at <= cast(:as_of as timestamptz)
