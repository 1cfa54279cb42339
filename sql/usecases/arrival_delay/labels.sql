-- arrival_delay: the outcome of each scored entity and when it became known.
-- grain: one row per entity_id and score_date between :date_from and :date_to, for the flights that arrived:
--        a cancelled or diverted flight has no arrival delay and gets no label (and no row here).
-- label = the arrival delay in minutes (negative: early), clipped at 360 (see usecases/arrival_delay.toml).
-- Known at 12:00 UTC the next morning: by then every arrival of the day is in except a handful (2013: 29 of
-- 327,346 arrived later, all delayed by many hours); at 06:00 UTC, as for departures, 7,908 would still be
-- in the air (late departures to the west coast and Puerto Rico).
select
    carrier || flight::text || '-' || origin                               as entity_id,
    flight_date                                                            as score_date,
    least(arr_delay, 360)::double precision                                as label,
    (flight_date + 1)::timestamp at time zone 'UTC' + interval '12 hours'  as label_known_at
from source.flights
where flight_date between cast(:date_from as date) and cast(:date_to as date)
  and arr_delay is not null
