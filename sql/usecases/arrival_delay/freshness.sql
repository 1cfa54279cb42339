-- arrival_delay: how far the source is complete, for the score date :score_date.
-- grain: one row. fresh_through = the last date for which both the schedule and the weather (the stand-in
-- for the forecast) are loaded; the gate requires fresh_through >= :score_date.
select least(
    (select max(flight_date) from source.flights),
    (select max((time_hour at time zone 'America/New_York')::date) from source.weather)
) as fresh_through
