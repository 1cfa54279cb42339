-- bench_w1: the benchmark workload (issue 6). grain: one row per entity_id and score_date.
select
    entity_id::text as entity_id, score_date,
    f01, f02, f03, f04, f05, f06, f07, f08, f09, f10, f11, f12, f13, f14, f15, f16, c1, c2
from bench.w1
where score_date between cast(:date_from as date) and cast(:date_to as date)
