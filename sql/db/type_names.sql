-- The SQL names of result column types by their oid (types batchscore check has no name of its own for).
-- grain: one row per oid asked for.
select oid::integer as oid, format_type(oid, null) as name
from pg_catalog.pg_type
where oid = any(cast(:oids as oid[]))
