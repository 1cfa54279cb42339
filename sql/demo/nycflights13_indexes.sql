-- Indexes a real source system would have for "the flights of one day" and the weather lookup.
create index flights_by_date on source.flights (flight_date);
create index flights_by_date_carrier on source.flights (flight_date, carrier);
create index weather_by_origin_hour on source.weather (origin, time_hour);
analyze source.flights;
analyze source.weather;
analyze source.planes;
