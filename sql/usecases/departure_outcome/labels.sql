-- departure_outcome: the outcome of each scored entity and when it became known.
-- grain: one row per entity_id and score_date between :date_from and :date_to (every scheduled departure).
-- label, one of four text classes:
--   cancelled  never departed (no dep_time)
--   on_time    departed at most 15 minutes late (early departures included)
--   late       departed more than 15 and at most 60 minutes late
--   very_late  departed more than 60 minutes late
-- Known at 12:00 UTC the next morning: by then all but a handful of the day's departures are through (2013: 15
-- of 328,521 left later, all many hours late); at 06:00 UTC 141 had not yet left, so "very_late" and
-- "cancelled" could not yet be told apart.
select
    carrier || flight::text || '-' || origin                               as entity_id,
    flight_date                                                            as score_date,
    case
        when dep_time is null then 'cancelled'
        when dep_delay <= 15 then 'on_time'
        when dep_delay <= 60 then 'late'
        else 'very_late'
    end                                                                    as label,
    (flight_date + 1)::timestamp at time zone 'UTC' + interval '12 hours'  as label_known_at
from source.flights
where flight_date between cast(:date_from as date) and cast(:date_to as date)
