-- flight_cancellation: model inputs derived from the batch.
-- grain: one row per entity_id and score_date, as in the batch (relation `batch`).
-- The same query builds the features for scoring (over the staged batch) and for training (over the batch
-- query run for a date range), so the two cannot drift apart.
select
    entity_id,
    score_date,
    carrier,
    origin,
    dest,
    extract(isodow from score_date)::integer                            as day_of_week,
    extract(month from score_date)::integer                             as month,
    (sched_dep_time / 100) * 60 + sched_dep_time % 100                  as sched_dep_minute,
    (sched_arr_time / 100) * 60 + sched_arr_time % 100                  as sched_arr_minute,
    distance,
    temp,
    dewp,
    humid,
    wind_dir,
    wind_speed,
    wind_gust,
    precip,
    pressure,
    visib,
    origin_cancel_rate_7d,
    carrier_cancel_rate_7d
from batch
