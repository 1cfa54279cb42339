-- departure_outcome: the scoring batch.
-- grain: one row per scheduled departure (entity = carrier + flight number + origin airport) and
--        score date (= the flight date), for score dates between :date_from and :date_to.
-- Only what is known the evening before the flight date. Never use dep_time, dep_delay, arr_time,
-- arr_delay or air_time of the date being scored: they are observed on the day itself (dep_time and dep_delay
-- define the label). No tail number and no plane: in the source the tail number is the aircraft that actually
-- flew, missing for 2,512 flights, every one of them cancelled (a plane column would give the label away).
-- Weather-as-forecast assumption (as in flight_cancellation): the weather observed at the origin, in the
-- scheduled hour and over the whole local day, stands in for the forecast a planner would have the evening
-- before. History only uses days up to D-2, whose outcomes are known by the evening before D (labels.sql:
-- known at 12:00 UTC the next morning; this use case runs at 21:30 New York time, 01:30 or 02:30 UTC, when the
-- outcomes of D-1 are not yet final).
with

scheduled as (
    select
        flight_date                                   as score_date,
        carrier || flight::text || '-' || origin      as entity_id,
        carrier,
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

weather_daily as (
    -- the local day's weather at the origin (the day's forecast, under the same assumption)
    select
        origin,
        (time_hour at time zone 'America/New_York')::date  as score_date,
        sum(precip)                                          as day_precip,
        min(visib)                                           as day_min_visib
    from weather_hourly
    group by origin, (time_hour at time zone 'America/New_York')::date
),

origin_hour_load as (
    -- departures scheduled at the origin in the same hour: the schedule is known the evening before
    select origin, sched_dep_hour_utc, count(*) as origin_hour_departures
    from scheduled
    group by origin, sched_dep_hour_utc
),

past_flights as (
    -- outcomes of earlier days, final by 12:00 UTC the next morning (see labels.sql); departure delays of the
    -- flights that left, clipped at 360 minutes so that a few extreme ones do not swamp a week's mean
    select
        flight_date,
        carrier || flight::text || '-' || origin          as entity_id,
        carrier,
        origin,
        dep_time is null                                  as cancelled,
        dep_time is null or dep_delay > 15                as late_or_worse,
        least(dep_delay, 360)                             as dep_delay
    from source.flights
    where flight_date between cast(:date_from as date) - 29 and cast(:date_to as date) - 2
),

score_dates as (
    select distinct score_date from scheduled
),

history_days as (
    -- for each score date D, the 7 earlier days its origin and carrier history reads: D-8..D-2
    select d.score_date, d.score_date - lag.days as flight_date
    from score_dates as d
    cross join generate_series(2, 8) as lag(days)
),

origin_days as (
    select
        flight_date,
        origin,
        count(*)                         as flights,
        count(*) filter (where cancelled) as cancelled,
        sum(dep_delay)                   as delay_sum,
        count(dep_delay)                 as departures
    from past_flights
    group by flight_date, origin
),

carrier_days as (
    select
        flight_date,
        carrier,
        count(*)                         as flights,
        count(*) filter (where cancelled) as cancelled,
        sum(dep_delay)                   as delay_sum,
        count(dep_delay)                 as departures
    from past_flights
    group by flight_date, carrier
),

origin_history as (
    select
        h.score_date,
        o.origin,
        sum(o.delay_sum) / nullif(sum(o.departures), 0)              as origin_dep_delay_7d,
        sum(o.cancelled)::double precision / sum(o.flights)          as origin_cancel_rate_7d
    from history_days as h
    join origin_days as o on o.flight_date = h.flight_date
    group by h.score_date, o.origin
),

carrier_history as (
    select
        h.score_date,
        c.carrier,
        sum(c.delay_sum) / nullif(sum(c.departures), 0)              as carrier_dep_delay_7d,
        sum(c.cancelled)::double precision / sum(c.flights)          as carrier_cancel_rate_7d
    from history_days as h
    join carrier_days as c on c.flight_date = h.flight_date
    group by h.score_date, c.carrier
),

flight_history as (
    -- the same scheduled departure (carrier + flight number + origin) over the 28 days D-29..D-2: the share
    -- that left more than 15 minutes late or not at all; a window over the entity's days, in which the rows
    -- to score carry no outcome (an entity flies at most once a day)
    select entity_id, flight_date as score_date, flight_late_share_28d
    from (
        select
            entity_id,
            flight_date,
            to_score,
            avg(late_or_worse) over (
                partition by entity_id order by flight_date
                range between interval '29 days' preceding and interval '2 days' preceding
            ) as flight_late_share_28d
        from (
            select entity_id, score_date as flight_date, true as to_score, null::double precision as late_or_worse
            from scheduled
            union all
            select entity_id, flight_date, false, late_or_worse::integer::double precision
            from past_flights
        ) as days
    ) as windowed
    where to_score
)

select
    s.entity_id,
    s.score_date,
    s.carrier,
    s.origin,
    s.dest,
    s.distance,
    s.sched_dep_time,
    s.sched_arr_time,
    s.sched_dep_hour_utc        as sched_dep_utc,
    w.temp,
    w.dewp,
    w.humid,
    w.wind_dir,
    w.wind_speed,
    w.wind_gust,
    w.precip,
    w.pressure,
    w.visib,
    wd.day_precip,
    wd.day_min_visib,
    ol.origin_hour_departures,
    oh.origin_dep_delay_7d,
    oh.origin_cancel_rate_7d,
    ch.carrier_dep_delay_7d,
    ch.carrier_cancel_rate_7d,
    fh.flight_late_share_28d
from scheduled as s
left join weather_hourly as w
    on w.origin = s.origin and w.time_hour = s.sched_dep_hour_utc
left join weather_daily as wd
    on wd.origin = s.origin and wd.score_date = s.score_date
left join origin_hour_load as ol
    on ol.origin = s.origin and ol.sched_dep_hour_utc = s.sched_dep_hour_utc
left join origin_history as oh
    on oh.score_date = s.score_date and oh.origin = s.origin
left join carrier_history as ch
    on ch.score_date = s.score_date and ch.carrier = s.carrier
left join flight_history as fh
    on fh.score_date = s.score_date and fh.entity_id = s.entity_id
