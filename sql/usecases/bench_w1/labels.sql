-- bench_w1: the synthetic label, known at the end of its day. grain: one row per entity_id and score_date.
select entity_id::text as entity_id, score_date, label,
       (score_date + 1)::timestamp at time zone 'UTC' as label_known_at
from bench.w1
where score_date between cast(:date_from as date) and cast(:date_to as date) and label is not null
