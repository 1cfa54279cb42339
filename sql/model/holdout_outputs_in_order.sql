-- A retraining run's evaluation (see holdout_outputs.sql) in the order the bootstrap resamples it.
-- grain: one row per (entity_id, score_date) of the holdout.
select label, challenger_output, champion_output
from {{outputs}}
order by score_date, entity_id
