-- grain: one row per staging table of the run whose key is :k (its shard tables included), by name.
select tablename
from pg_tables
where schemaname = :s
  and (tablename like '%\_' || :k or tablename like '%\_' || :k || '\_s%')
order by tablename
