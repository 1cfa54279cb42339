-- flight_cancellation: the outcome of each scored entity and when it became known.
-- grain: one row per entity_id and score_date between :date_from and :date_to.
-- A flight is cancelled when it never departed (no dep_time). The outcome counts as known at 06:00 UTC the
-- next morning, once the day's last departures are through; training only uses labels known at its cut-off.
select
    carrier || flight::text || '-' || origin                               as entity_id,
    flight_date                                                            as score_date,
    dep_time is null                                                       as label,
    (flight_date + 1)::timestamp at time zone 'UTC' + interval '6 hours'   as label_known_at
from source.flights
where flight_date between cast(:date_from as date) and cast(:date_to as date)
