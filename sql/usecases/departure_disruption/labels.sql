-- departure_disruption: outcome per entity_id and score_date between :date_from and :date_to.
-- Disrupted = cancelled or departed more than 60 minutes late; known by 06:00 UTC the next morning.
select
    carrier || flight::text || '-' || origin                               as entity_id,
    flight_date                                                            as score_date,
    dep_time is null or dep_delay > 60                                     as label,
    (flight_date + 1)::timestamp at time zone 'UTC' + interval '6 hours'   as label_known_at
from source.flights
where flight_date between cast(:date_from as date) and cast(:date_to as date)
