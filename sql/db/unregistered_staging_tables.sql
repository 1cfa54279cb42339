-- grain: one row per table in the staging schema named like a run's table (ending in a 12-hex key, maybe a shard
-- suffix) whose key no run registered: left by a version before the registry, or by a run whose registry row is
-- gone. Other tables in the schema (a conversion's copy of a predictions table) do not match.
select tablename
from (
    select tablename, substring(tablename from '_([0-9a-f]{12})(_s[0-9]+)?$') as table_key
    from pg_tables
    where schemaname = :s
) named
where table_key is not null
  and not exists (select 1 from batchscore.staging_runs r where r.table_key = named.table_key)
order by tablename
