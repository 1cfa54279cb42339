-- flight_cancellation: the scoring batch.
-- grain: one row per scheduled departure (entity = carrier + flight number + origin airport) and
--        score date (= the flight date), for score dates between :date_from and :date_to.
-- Only what is known the evening before the flight date. Never use dep_time, dep_delay, arr_time,
-- arr_delay or air_time here: they are observed on the day itself (and dep_time defines the label).
-- Weather-as-forecast assumption: the observed weather at the origin in the scheduled hour stands in for the
-- forecast an operations planner would have the evening before; with real forecasts the model would be a
-- little less sharp. Cancellation history uses only days whose labels are known by then (up to D-2).
with

scheduled as (
    select
        flight_date                                   as score_date,
        carrier || flight::text || '-' || origin      as entity_id,
        carrier,
        flight,
        tailnum,
        origin,
        dest,
        distance,
        sched_dep_time,
        sched_arr_time,
        time_hour                                     as sched_dep_hour_utc
    from source.flights
    where flight_date between cast(:date_from as date) and cast(:date_to as date)
),

weather_hourly as (
    -- the source has a few duplicated origin-hours (daylight-saving change); average them
    select
        origin,
        time_hour,
        avg(temp)        as temp,
        avg(dewp)        as dewp,
        avg(humid)       as humid,
        avg(wind_dir)    as wind_dir,
        avg(wind_speed)  as wind_speed,
        avg(wind_gust)   as wind_gust,
        avg(precip)      as precip,
        avg(pressure)    as pressure,
        avg(visib)       as visib
    from source.weather
    where time_hour >= cast(:date_from as date) - 1
      and time_hour <  cast(:date_to as date) + 2
    group by origin, time_hour
),

past_days as (
    -- outcomes of earlier days, final by the next morning (see labels.sql)
    select
        flight_date,
        origin,
        carrier,
        count(*)                                  as flights,
        count(*) filter (where dep_time is null)  as cancelled
    from source.flights
    where flight_date between cast(:date_from as date) - 8 and cast(:date_to as date) - 2
    group by flight_date, origin, carrier
),

score_dates as (
    select distinct score_date from scheduled
),

origin_history as (
    select
        d.score_date,
        p.origin,
        sum(p.cancelled)::double precision / nullif(sum(p.flights), 0)  as origin_cancel_rate_7d
    from score_dates as d
    join past_days as p
        on p.flight_date between d.score_date - 8 and d.score_date - 2
    group by d.score_date, p.origin
),

carrier_history as (
    select
        d.score_date,
        p.carrier,
        sum(p.cancelled)::double precision / nullif(sum(p.flights), 0)  as carrier_cancel_rate_7d
    from score_dates as d
    join past_days as p
        on p.flight_date between d.score_date - 8 and d.score_date - 2
    group by d.score_date, p.carrier
)

select
    s.entity_id,
    s.score_date,
    s.carrier,
    s.flight,
    s.tailnum,
    s.origin,
    s.dest,
    s.distance,
    s.sched_dep_time,
    s.sched_arr_time,
    s.sched_dep_hour_utc        as sched_dep_utc,
    p.year                      as plane_year,
    p.seats                     as plane_seats,
    p.engines                   as plane_engines,
    w.temp,
    w.dewp,
    w.humid,
    w.wind_dir,
    w.wind_speed,
    w.wind_gust,
    w.precip,
    w.pressure,
    w.visib,
    oh.origin_cancel_rate_7d,
    ch.carrier_cancel_rate_7d
from scheduled as s
left join source.planes as p
    on p.tailnum = s.tailnum
left join weather_hourly as w
    on w.origin = s.origin and w.time_hour = s.sched_dep_hour_utc
left join origin_history as oh
    on oh.score_date = s.score_date and oh.origin = s.origin
left join carrier_history as ch
    on ch.score_date = s.score_date and ch.carrier = s.carrier
