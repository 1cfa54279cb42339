-- A binary use case's run: the share of its published predictions that flag their entity.
-- grain: one row.
select avg(predicted_label::int)::float8 as flagged_share
from {{predictions}}
where score_date = :score_date and run_id = :r
