-- The run's freshness probe: how many days the source lags behind :score_date.
-- grain: one row. The use case's freshness query (one row, column fresh_through) is put in place of the
-- marker below by pipeline.queries.freshness_probe.
create unlogged table {{probe}} as
select
    fresh.fresh_through,
    cast(:score_date as date)                              as score_date,
    cast(:score_date as date) - fresh.fresh_through        as days_behind
from (
    /* freshness query */
) as fresh
