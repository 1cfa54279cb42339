-- The sessions holding a granted lock on the predictions table :t (quoted, qualified) or one of its partitions:
-- what publish reports when it cannot swap a date's partition. No query text: it may quote values.
-- grain: one row per session, the longest-open transaction first.
with partitions as (
    select inhrelid as relid from pg_inherits where inhparent = to_regclass(:t)
    union all
    select to_regclass(:t)
),

holders as (
    select distinct l.pid
    from pg_locks as l
    join partitions as p on p.relid = l.relation
    where l.granted and l.pid <> pg_backend_pid()
)

select
    a.pid,
    a.state,
    nullif(a.application_name, '') as application_name,
    cast(extract(epoch from now() - coalesce(a.xact_start, a.query_start)) as integer) as open_seconds
from holders as h
join pg_stat_activity as a on a.pid = h.pid
order by open_seconds desc nulls last, a.pid
