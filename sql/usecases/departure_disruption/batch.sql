-- departure_disruption: the scoring batch.
-- grain: one row per scheduled departure (carrier + flight number + origin) and score date (= flight date),
--        for score dates between :date_from and :date_to; only what is known the evening before.
-- Same weather-as-forecast assumption as flight_cancellation; delay history only from days up to D-2.
with

scheduled as (
    select
        flight_date                               as score_date,
        carrier || flight::text || '-' || origin  as entity_id,
        carrier,
        origin,
        dest,
        distance,
        sched_dep_time,
        time_hour                                 as sched_dep_hour_utc
    from source.flights
    where flight_date between cast(:date_from as date) and cast(:date_to as date)
),

weather_hourly as (
    select origin, time_hour, avg(wind_speed) as wind_speed, avg(precip) as precip, avg(visib) as visib
    from source.weather
    where time_hour >= cast(:date_from as date) - 1 and time_hour < cast(:date_to as date) + 2
    group by origin, time_hour
),

past_days as (
    select
        flight_date,
        origin,
        count(*)                                                         as flights,
        count(*) filter (where dep_time is null or dep_delay > 60)       as disrupted
    from source.flights
    where flight_date between cast(:date_from as date) - 8 and cast(:date_to as date) - 2
    group by flight_date, origin
),

origin_history as (
    select
        d.score_date,
        p.origin,
        sum(p.disrupted)::double precision / nullif(sum(p.flights), 0)  as origin_disruption_rate_7d
    from (select distinct score_date from scheduled) as d
    join past_days as p
        on p.flight_date between d.score_date - 8 and d.score_date - 2
    group by d.score_date, p.origin
)

select
    s.entity_id,
    s.score_date,
    s.carrier,
    s.origin,
    s.dest,
    s.distance,
    s.sched_dep_time,
    w.wind_speed,
    w.precip,
    w.visib,
    h.origin_disruption_rate_7d
from scheduled as s
left join weather_hourly as w
    on w.origin = s.origin and w.time_hour = s.sched_dep_hour_utc
left join origin_history as h
    on h.score_date = s.score_date and h.origin = s.origin
