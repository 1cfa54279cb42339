-- departure_disruption: model inputs. grain: one row per entity_id and score_date (relation `batch`).
select
    entity_id,
    score_date,
    carrier,
    origin,
    extract(isodow from score_date)::integer                  as day_of_week,
    (sched_dep_time / 100) * 60 + sched_dep_time % 100        as sched_dep_minute,
    distance,
    wind_speed,
    precip,
    visib,
    origin_disruption_rate_7d
from batch
