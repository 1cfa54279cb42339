-- Replace one score date's shadow scores of one challenger version (inside publish's transaction): the run's
-- staged shadow predictions {{scores}}, shaped like a predictions partition, every column {{columns}} of the
-- use case's kind. grain of the result: one row per (score_date, entity_id, model_version).
insert into {{shadow}} ({{columns}})
select {{columns}}
from {{scores}}
