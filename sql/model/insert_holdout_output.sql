-- One holdout row of a retraining run's evaluation (see holdout_outputs.sql).
insert into {{outputs}} (entity_id, score_date, label, challenger_output, champion_output)
values (:entity_id, :score_date, :label, :challenger_output, :champion_output)
