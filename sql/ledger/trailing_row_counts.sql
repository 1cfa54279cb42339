-- Volumes of the dates published in the :window_days days before :score_date, for the row-count band.
-- grain: one row per published score date (its latest successful run).
select distinct on (score_date)
    rows_out
from batchscore.scoring_runs
where use_case = :use_case
  and status = 'succeeded'
  and score_date >= cast(:score_date as date) - cast(:window_days as integer)
  and score_date <  cast(:score_date as date)
order by score_date, finished_at desc
