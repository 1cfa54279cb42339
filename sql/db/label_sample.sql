-- A few distinct label values of the labels query for one day (batchscore check: does an integer binary label
-- hold only 0 and 1?). grain: one row per distinct non-null label, at most 20; the query replaces the marker.
select distinct labels.label
from (
    /* query */
) as labels
where labels.label is not null
limit 20
