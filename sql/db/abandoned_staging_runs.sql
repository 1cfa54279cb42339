-- grain: one row per registered run whose staging tables are older than :age (a run that died), oldest first;
-- the run with key :keep (the caller's own) is never one.
select table_key
from batchscore.staging_runs
where created_at < now() - :age
  and table_key is distinct from :keep
order by created_at
